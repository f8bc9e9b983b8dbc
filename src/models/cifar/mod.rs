//! CIFAR-100 models (32x32 inputs).

pub mod mobilenetv2;
pub mod resnet;
pub mod resnetv2;
pub mod shufflenetv1;
pub mod shufflenetv2;
pub mod vgg;
pub mod wrn;
