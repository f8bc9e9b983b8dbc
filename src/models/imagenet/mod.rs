//! ImageNet models (224x224 inputs).

pub mod mobilenetv1;
pub mod resnet;
