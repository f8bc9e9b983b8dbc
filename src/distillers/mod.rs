//! Distillers: how a training step turns images and labels into named losses.
