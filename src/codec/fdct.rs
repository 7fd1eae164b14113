//! The forward DCT and quantization of one 8×8 block, for the few blocks
//! the DCT route (`recode`) codes afresh from pixels. Plain separable float
//! arithmetic: a few hundred blocks a photo, so speed matters less than
//! being plainly right.

use super::huffman::{Block, ZIGZAG};
use std::sync::OnceLock;

/// basis[u][x] = C(u)/2 · cos((2x+1)uπ/16), C(0) = 1/√2.
fn basis() -> &'static [[f32; 8]; 8] {
    static BASIS: OnceLock<[[f32; 8]; 8]> = OnceLock::new();
    BASIS.get_or_init(|| {
        let mut b = [[0f32; 8]; 8];
        for (u, row) in b.iter_mut().enumerate() {
            let c = if u == 0 { std::f64::consts::FRAC_1_SQRT_2 } else { 1.0 };
            for (x, v) in row.iter_mut().enumerate() {
                *v = (c / 2.0 * ((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / 16.0).cos()) as f32;
            }
        }
        b
    })
}

/// Samples (0–255, row-major) to quantized coefficients in zigzag order,
/// with `quant` in zigzag order as DQT stores it.
pub(super) fn forward(samples: &[f32; 64], quant: &[u16; 64]) -> Block {
    let b = basis();
    let mut rows = [0f32; 64];
    for y in 0..8 {
        for u in 0..8 {
            rows[y * 8 + u] = (0..8).map(|x| b[u][x] * (samples[y * 8 + x] - 128.0)).sum();
        }
    }
    let mut out = [0i16; 64];
    for (k, o) in out.iter_mut().enumerate() {
        let n = ZIGZAG[k];
        let (v, u) = (n / 8, n % 8);
        let f: f32 = (0..8).map(|y| b[v][y] * rows[y * 8 + u]).sum();
        *o = (f / quant[k] as f32).round() as i16;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flat block is its DC alone: 8 × (value − 128), over the step.
    #[test]
    fn a_flat_block_is_its_dc() {
        let quant = [2u16; 64];
        let block = forward(&[200.0; 64], &quant);
        assert_eq!(block[0], (8 * 72 / 2) as i16);
        assert!(block[1..].iter().all(|&c| c == 0));
        // A horizontal ramp puts its energy in the first horizontal AC.
        let ramp: [f32; 64] = std::array::from_fn(|i| 100.0 + 10.0 * (i % 8) as f32);
        let block = forward(&ramp, &[1; 64]);
        assert!(block[1] < -50 && block[2] == 0, "{:?}", &block[..4]);
    }
}
