//! Channel shuffle, shared by ShuffleNet V1 and V2.

use tch::Tensor;

/// `[N, C, H, W] -> [N, g, C/g, H, W] -> [N, C/g, g, H, W] -> [N, C, H, W]`: a view and a
/// transpose; the final reshape is the only copy (the next convolution needs contiguous input).
pub fn channel_shuffle(xs: &Tensor, groups: i64) -> Tensor {
    if groups == 1 {
        return xs.shallow_clone();
    }
    let size = xs.size();
    let (n, c, h, w) = (size[0], size[1], size[2], size[3]);
    xs.view([n, groups, c / groups, h, w])
        .transpose(1, 2)
        .reshape([n, c, h, w])
}
