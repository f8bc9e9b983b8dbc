//! Checkpoints: PyTorch .pth files (read), our own safetensors files (read and write, atomic).

pub mod teachers;
