//! Summaries drawn on graphs: mean with a 95% Student-t confidence interval, and quartiles.
//!
//! Kept beside the plots because `analyze` has no summary type yet; it moves there once it does.

use serde::Serialize;

/// Mean, 95% confidence interval and quartiles of one group of runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    /// Bounds of the 95% confidence interval of the mean; equal to the mean when n < 2.
    pub lo: f64,
    pub hi: f64,
    pub min: f64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub max: f64,
}

/// Two-sided 97.5% quantiles of Student's t for 1..=30 degrees of freedom.
const T975: [f64; 30] = [
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010,
    2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687,
    2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
];

/// The 0.975 quantile of Student's t with `df` degrees of freedom (df >= 1).
pub fn t975(df: usize) -> f64 {
    if df == 0 {
        return f64::NAN;
    }
    if df <= T975.len() {
        return T975[df - 1];
    }
    // Cornish-Fisher expansion around the normal quantile: exact to 1e-4 beyond 30 df.
    let z: f64 = 1.959_963_984_540_054;
    let v = df as f64;
    z + (z.powi(3) + z) / (4.0 * v)
        + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * v * v)
        + (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z) / (384.0 * v.powi(3))
}

/// Linear-interpolation quantile of sorted data (numpy's default, type 7).
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Summarises finite values; `None` when there are none.
pub fn summarise(values: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n as f64;
    let (lo, hi) = if n >= 2 {
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let half = t975(n - 1) * (var / n as f64).sqrt();
        (mean - half, mean + half)
    } else {
        (mean, mean)
    };
    Some(Summary {
        n,
        mean,
        lo,
        hi,
        min: v[0],
        q1: quantile(&v, 0.25),
        median: quantile(&v, 0.5),
        q3: quantile(&v, 0.75),
        max: v[n - 1],
    })
}

impl Summary {
    /// Whisker ends (the most extreme values within 1.5 IQR of the box) and the outliers.
    pub fn whiskers(&self, values: &[f64]) -> (f64, f64, Vec<f64>) {
        let iqr = self.q3 - self.q1;
        let (fence_lo, fence_hi) = (self.q1 - 1.5 * iqr, self.q3 + 1.5 * iqr);
        let inside = values
            .iter()
            .copied()
            .filter(|x| *x >= fence_lo && *x <= fence_hi);
        let lo = inside.clone().fold(f64::INFINITY, f64::min).min(self.q1);
        let hi = inside.fold(f64::NEG_INFINITY, f64::max).max(self.q3);
        let outliers = values
            .iter()
            .copied()
            .filter(|x| *x < fence_lo || *x > fence_hi)
            .collect();
        (lo, hi, outliers)
    }

    /// The summary with every figure divided by `div` (display scaling).
    pub fn scaled(&self, div: f64) -> Summary {
        Summary {
            n: self.n,
            mean: self.mean / div,
            lo: self.lo / div,
            hi: self.hi / div,
            min: self.min / div,
            q1: self.q1 / div,
            median: self.median / div,
            q3: self.q3 / div,
            max: self.max / div,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles() {
        assert_eq!(t975(1), 12.7062);
        assert!((t975(31) - 2.0395).abs() < 1e-3);
        assert!((t975(120) - 1.9799).abs() < 1e-3);
        assert!((t975(100_000) - 1.96).abs() < 1e-3);
    }

    #[test]
    fn mean_and_interval() {
        let s = summarise(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.mean, 2.0);
        // sd = 1, se = 1/sqrt(3), t(2) = 4.3027
        assert!((s.hi - (2.0 + 4.3027 / 3f64.sqrt())).abs() < 1e-9);
        assert_eq!(s.median, 2.0);
        assert_eq!(s.q1, 1.5);
        let one = summarise(&[5.0]).unwrap();
        assert_eq!((one.lo, one.mean, one.hi), (5.0, 5.0, 5.0));
        assert!(summarise(&[f64::NAN]).is_none());
    }

    #[test]
    fn whiskers_and_outliers() {
        let v = [1.0, 2.0, 2.0, 3.0, 3.0, 100.0];
        let s = summarise(&v).unwrap();
        let (lo, hi, out) = s.whiskers(&v);
        assert_eq!((lo, hi), (1.0, 3.0));
        assert_eq!(out, vec![100.0]);
    }
}
