//! Convert a plain model's weights to its CAM (`*_test`) variant the reference's way.
