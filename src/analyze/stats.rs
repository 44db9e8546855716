//! Statistics on samples of runs: descriptive summaries, Welch's t-test, the Mann–Whitney U
//! test, Fieller's interval for a ratio of means, and Holm's multiple-comparison correction.
//!
//! Conventions follow SciPy so that results can be checked against it (see
//! `tests/scipy_check.py`): `welch(a, b)` is `scipy.stats.ttest_ind(a, b, equal_var=False)`,
//! `mann_whitney_u(a, b)` is `scipy.stats.mannwhitneyu(a, b)` with `method="auto"`.

use serde::Serialize;
use statrs::function::{beta::beta_reg, gamma::ln_gamma};

/// Descriptive statistics of one sample: what tables, graphs and compare show of a group of
/// runs. The one summary type of mpf.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub median: f64,
    /// Sample standard deviation (n − 1 denominator); NaN (null in JSON) when n < 2.
    pub stddev: f64,
    pub min: f64,
    pub max: f64,
    /// Quartiles (numpy's default linear interpolation).
    pub q1: f64,
    pub q3: f64,
    /// The 95% Student-t confidence interval of the mean; equal to the mean when n < 2.
    pub ci_lo: f64,
    pub ci_hi: f64,
}

/// Confidence level of `Summary::ci_lo`/`ci_hi`.
pub const SUMMARY_CONFIDENCE: f64 = 0.95;

/// The `p` quantile (0..=1) of sorted data, interpolating linearly between closest ranks
/// (numpy's default, type 7). `sorted` must not be empty.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Summarises the finite values of a sample (NaN and infinities are left out); `None` when
/// there are none.
pub fn summarize(xs: &[f64]) -> Option<Summary> {
    let mut sorted: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let mean = mean(&sorted);
    let stddev = if n < 2 {
        f64::NAN
    } else {
        variance(&sorted, mean).sqrt()
    };
    let half = if n < 2 {
        0.0
    } else {
        t_critical((n - 1) as f64, 1.0 - SUMMARY_CONFIDENCE) * stddev / (n as f64).sqrt()
    };
    Some(Summary {
        n,
        mean,
        median: quantile(&sorted, 0.5),
        stddev,
        min: sorted[0],
        max: sorted[n - 1],
        q1: quantile(&sorted, 0.25),
        q3: quantile(&sorted, 0.75),
        ci_lo: mean - half,
        ci_hi: mean + half,
    })
}

/// The one rule for the intervals of tables and graphs (SPEC §17): a result none of whose
/// values is negative (a duration, a rate, a count) cannot be negative, and the t interval of a
/// few noisy runs that reaches below zero is clipped at zero, saying so.
pub fn never_negative<'a>(values: impl IntoIterator<Item = &'a f64>) -> bool {
    values.into_iter().all(|v| *v >= 0.0)
}

impl Summary {
    /// Clips the interval of a never-negative result at zero; whether it reached below.
    pub fn clip_at_zero(&mut self) -> bool {
        if self.ci_lo < 0.0 {
            self.ci_lo = 0.0;
            return true;
        }
        false
    }

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

    /// The summary with every location figure divided by `div` (display scaling).
    pub fn scaled(&self, div: f64) -> Summary {
        Summary {
            n: self.n,
            mean: self.mean / div,
            median: self.median / div,
            stddev: self.stddev / div.abs(),
            min: self.min / div,
            max: self.max / div,
            q1: self.q1 / div,
            q3: self.q3 / div,
            ci_lo: self.ci_lo / div,
            ci_hi: self.ci_hi / div,
        }
    }
}

/// Arithmetic mean; NaN for an empty sample.
pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Batch size of MSER-5.
const MSER_BATCH: usize = 5;

/// The most samples `mser5` drops from a series of `n`: the end of its search.
pub fn mser5_most(n: usize) -> usize {
    let b = n / MSER_BATCH;
    if b < 3 {
        0
    } else {
        (b / 2).min(b - 2) * MSER_BATCH
    }
}

/// Samples to drop from the start of a series as its warm-up, by MSER-5 (White 1997): the
/// series is cut into batches of 5 from its start (a last, incomplete batch is left out), and
/// the truncation point `d` batches, searched over the first half of the batches
/// (`0 ..= batches / 2`) and leaving at least two batches (one batch mean has no standard
/// error: counting it as 0 dropped half of every 10-sample series), is the one that
/// minimises the squared standard error of the remaining batch means,
/// `sum((z_j - mean)^2) / (batches - d)^2`; the first `d` on a tie. Returns `5 d`; 0 for
/// fewer than three batches.
pub fn mser5(xs: &[f64]) -> usize {
    let batches: Vec<f64> = xs.chunks_exact(MSER_BATCH).map(mean).collect();
    let b = batches.len();
    if b < 3 {
        return 0;
    }
    let mut best = (f64::INFINITY, 0);
    for d in 0..=(b / 2).min(b - 2) {
        let rest = &batches[d..];
        let m = mean(rest);
        let k = rest.len() as f64;
        let se = rest.iter().map(|z| (z - m).powi(2)).sum::<f64>() / (k * k);
        if se < best.0 {
            best = (se, d);
        }
    }
    best.1 * MSER_BATCH
}

/// Unbiased sample variance around `mean` (two-pass, for accuracy).
pub fn variance(xs: &[f64], mean: f64) -> f64 {
    xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64
}

/// The outcome of Welch's unequal-variances t-test of mean(a) − mean(b).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WelchTest {
    /// (mean(a) − mean(b)) / standard error; ±inf when both samples are constant and differ.
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom; NaN when both samples are constant.
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// mean(a) − mean(b).
    pub diff: f64,
    /// Standard error of the difference: sqrt(var(a)/n_a + var(b)/n_b).
    pub se: f64,
}

/// Welch's t-test; `None` when a sample has fewer than two values.
///
/// Two constant samples have no variance to test against: their p-value is 0 when the means
/// differ (a deterministic change) and 1 when they are equal.
pub fn welch(a: &[f64], b: &[f64]) -> Option<WelchTest> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (ma, mb) = (mean(a), mean(b));
    let va = variance(a, ma) / a.len() as f64;
    let vb = variance(b, mb) / b.len() as f64;
    let diff = ma - mb;
    let se2 = va + vb;
    if se2 == 0.0 {
        let (t, p) = if diff == 0.0 {
            (0.0, 1.0)
        } else {
            (diff.signum() * f64::INFINITY, 0.0)
        };
        return Some(WelchTest {
            t,
            df: f64::NAN,
            p,
            diff,
            se: 0.0,
        });
    }
    let df = welch_df(va, a.len(), vb, b.len());
    let se = se2.sqrt();
    let t = diff / se;
    Some(WelchTest {
        t,
        df,
        p: t_two_sided_p(t, df),
        diff,
        se,
    })
}

/// Welch–Satterthwaite degrees of freedom from the squared standard errors of each mean.
fn welch_df(va: f64, na: usize, vb: f64, nb: usize) -> f64 {
    (va + vb).powi(2) / (va * va / (na - 1) as f64 + vb * vb / (nb - 1) as f64)
}

/// Two-sided p-value of Student's t: P(|T| ≥ |t|) = I_{df/(df+t²)}(df/2, 1/2), computed
/// without cancellation in either tail.
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    if t == 0.0 {
        return 1.0;
    }
    let x = df / (df + t * t);
    beta_reg(df / 2.0, 0.5, x).clamp(0.0, 1.0)
}

fn t_pdf(t: f64, df: f64) -> f64 {
    let ln = ln_gamma((df + 1.0) / 2.0)
        - ln_gamma(df / 2.0)
        - 0.5 * (df * std::f64::consts::PI).ln()
        - (df + 1.0) / 2.0 * (t * t / df).ln_1p();
    ln.exp()
}

/// The two-sided critical value of Student's t: the q > 0 with P(|T| ≥ q) = `alpha`.
///
/// statrs' inverse gives the starting point; Newton steps on the two-sided tail bring it to
/// full double precision (the inverse incomplete beta alone is only good to about 1e-10).
pub fn t_critical(df: f64, alpha: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    if df.is_nan() || df <= 0.0 || !(0.0..1.0).contains(&alpha) || alpha == 0.0 {
        return f64::NAN;
    }
    let mut q = match StudentsT::new(0.0, 1.0, df) {
        Ok(d) => d.inverse_cdf(1.0 - alpha / 2.0),
        Err(_) => return f64::NAN,
    };
    if !q.is_finite() || q <= 0.0 {
        q = 2.0;
    }
    for _ in 0..50 {
        // f(q) = P(|T| ≥ q) − alpha, f'(q) = −2 pdf(q)
        let f = t_two_sided_p(q, df) - alpha;
        let step = f / (2.0 * t_pdf(q, df));
        if !step.is_finite() {
            break;
        }
        let next = (q + step).max(q / 2.0);
        let done = (next - q).abs() <= 1e-15 * q;
        q = next;
        if done {
            break;
        }
    }
    q
}

/// Confidence interval for mean(a) − mean(b) by Welch's method (as
/// `scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval(level)`).
pub fn welch_diff_ci(a: &[f64], b: &[f64], level: f64) -> Option<(f64, f64)> {
    let w = welch(a, b)?;
    if w.se == 0.0 {
        return Some((w.diff, w.diff));
    }
    let q = t_critical(w.df, 1.0 - level);
    Some((w.diff - q * w.se, w.diff + q * w.se))
}

/// A confidence interval for a ratio of means that may be unbounded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RatioCi {
    Bounded(f64, f64),
    /// The denominator's mean is not significantly different from zero: the interval is not
    /// a finite range.
    Unbounded,
}

/// Fieller's confidence interval for mean(num) / mean(den) with independent samples, using
/// the Welch–Satterthwaite degrees of freedom of the difference of means.
///
/// It is the set of ratios ρ for which mean(num) − ρ·mean(den) is not significantly different
/// from zero; ρ = 1 lies outside it exactly when Welch's test rejects at the same level, so
/// the interval and the t-test never disagree. Unlike dividing the difference's interval by
/// the base mean, it accounts for the uncertainty of the base mean.
pub fn fieller_ratio_ci(num: &[f64], den: &[f64], level: f64) -> Option<RatioCi> {
    let w = welch(num, den)?;
    let (mn, md) = (mean(num), mean(den));
    let vn = variance(num, mn) / num.len() as f64;
    let vd = variance(den, md) / den.len() as f64;
    if md == 0.0 {
        return Some(RatioCi::Unbounded);
    }
    if w.se == 0.0 {
        let r = mn / md;
        return Some(RatioCi::Bounded(r, r));
    }
    let q2 = t_critical(w.df, 1.0 - level).powi(2);
    // (mn − ρ md)² ≤ q² (vn + ρ² vd)  <=>  A ρ² + B ρ + C ≤ 0
    let a = md * md - q2 * vd;
    if a <= 0.0 {
        return Some(RatioCi::Unbounded);
    }
    let b = -2.0 * mn * md;
    let c = mn * mn - q2 * vn;
    let disc = (b * b - 4.0 * a * c).max(0.0);
    let root = disc.sqrt();
    // Numerically stable quadratic roots.
    let qq = -0.5 * (b + b.signum() * root);
    let (r1, r2) = if qq == 0.0 {
        (-root / (2.0 * a), root / (2.0 * a))
    } else {
        (qq / a, c / qq)
    };
    Some(RatioCi::Bounded(r1.min(r2), r1.max(r2)))
}

/// How a Mann–Whitney p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MwuMethod {
    /// The exact null distribution of U (no ties, a sample of at most 8).
    Exact,
    /// Normal approximation with tie correction and continuity correction.
    Asymptotic,
}

impl MwuMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            MwuMethod::Exact => "exact",
            MwuMethod::Asymptotic => "asymptotic",
        }
    }
}

/// The outcome of a two-sided Mann–Whitney U test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MwuTest {
    /// U statistic of the first sample (SciPy's `statistic`).
    pub u: f64,
    pub p: f64,
    pub method: MwuMethod,
}

/// Two-sided Mann–Whitney U test, choosing the method as SciPy's `method="auto"` does:
/// exact when there are no ties and either sample has at most 8 values, asymptotic (normal
/// approximation, tie-corrected variance, continuity correction) otherwise. `None` when a
/// sample is empty.
pub fn mann_whitney_u(a: &[f64], b: &[f64]) -> Option<MwuTest> {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (ranks, tie_sizes) = average_ranks(a.iter().chain(b).copied());
    let r1: f64 = ranks[..n1].iter().sum();
    let u1 = r1 - (n1 * (n1 + 1)) as f64 / 2.0;
    let u2 = (n1 * n2) as f64 - u1;
    let u = u1.max(u2);
    let ties = tie_sizes.iter().any(|&t| t > 1);
    if !ties && (n1 <= 8 || n2 <= 8) {
        if let Some(sf) = exact_u_sf(n1, n2, u as u64) {
            return Some(MwuTest {
                u: u1,
                p: (2.0 * sf).clamp(0.0, 1.0),
                method: MwuMethod::Exact,
            });
        }
    }
    Some(MwuTest {
        u: u1,
        p: asymptotic_u_p(u, n1, n2, &tie_sizes),
        method: MwuMethod::Asymptotic,
    })
}

/// Ranks (1-based, ties get their average rank) and the size of every group of equal values.
fn average_ranks(values: impl Iterator<Item = f64>) -> (Vec<f64>, Vec<usize>) {
    let mut idx: Vec<(usize, f64)> = values.enumerate().collect();
    idx.sort_by(|x, y| x.1.total_cmp(&y.1));
    let mut ranks = vec![0.0; idx.len()];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < idx.len() {
        let mut j = i + 1;
        while j < idx.len() && idx[j].1 == idx[i].1 {
            j += 1;
        }
        // Positions i..j (0-based) hold equal values: ranks i+1..=j, averaged.
        let avg = (i + 1 + j) as f64 / 2.0;
        for item in &idx[i..j] {
            ranks[item.0] = avg;
        }
        ties.push(j - i);
        i = j;
    }
    (ranks, ties)
}

fn asymptotic_u_p(u: f64, n1: usize, n2: usize, tie_sizes: &[usize]) -> f64 {
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let n = n1f + n2f;
    let tie_term: f64 = tie_sizes
        .iter()
        .map(|&t| {
            let t = t as f64;
            t * t * t - t
        })
        .sum();
    let var = n1f * n2f / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    if var.is_nan() || var <= 0.0 {
        // Every value equal: no evidence of a difference.
        return 1.0;
    }
    let z = (u - n1f * n2f / 2.0 - 0.5) / var.sqrt();
    // 2 · P(Z ≥ z) = erfc(z / √2)
    erfc(z / std::f64::consts::SQRT_2).clamp(0.0, 1.0)
}

/// Complementary error function to about 1e-15 relative (statrs' `erfc` is only good to
/// about 1e-10, too coarse to agree with SciPy's p-values): the series of erf with positive
/// terms below 1 (erfc > 0.15: little cancellation), the continued fraction of erfc above.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    let two_over_sqrt_pi = 2.0 / std::f64::consts::PI.sqrt();
    if x < 1.0 {
        // erf(x) = 2/√π · e^{−x²} · Σ_{n≥0} 2ⁿ x^{2n+1} / (1·3·…·(2n+1))
        let x2 = x * x;
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= 2.0 * x2 / (2 * n + 1) as f64;
            sum += term;
            if term <= 1e-17 * sum {
                break;
            }
        }
        return 1.0 - two_over_sqrt_pi * (-x2).exp() * sum;
    }
    // erfc(x) = e^{−x²}/√π / (x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), by modified Lentz.
    let tiny = 1e-300;
    let mut f = x;
    let (mut c, mut d) = (x, 0.0);
    for k in 1..5000 {
        let a = k as f64 / 2.0;
        d = x + a * d;
        if d == 0.0 {
            d = tiny;
        }
        c = x + a / c;
        if c == 0.0 {
            c = tiny;
        }
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    two_over_sqrt_pi / 2.0 * (-x * x).exp() / f
}

/// P(U ≥ k) under the null hypothesis for samples of sizes n1 and n2 without ties, from the
/// exact count of arrangements. `None` when the counts do not fit in 128-bit integers.
fn exact_u_sf(n1: usize, n2: usize, k: u64) -> Option<f64> {
    let counts = u_counts(n1.min(n2), n1.max(n2))?;
    let total: u128 = counts
        .iter()
        .try_fold(0u128, |acc, &c| acc.checked_add(c))?;
    let k = k as usize;
    let mn = counts.len() - 1;
    // The distribution is symmetric: P(U ≥ k) = P(U ≤ mn − k).
    let upper: u128 = if k > mn {
        0
    } else {
        counts[..=(mn - k)].iter().sum()
    };
    Some(upper as f64 / total as f64)
}

/// Number of arrangements of m x's and n y's giving U = u, for u = 0..=m·n: the coefficients
/// of the Gaussian binomial [m+n choose m]_q = Π_{i=1..m} (1 − q^{n+i}) / (1 − q^i).
/// After each factor the polynomial is [n+i choose i]_q, with non-negative integer coefficients.
fn u_counts(m: usize, n: usize) -> Option<Vec<u128>> {
    let deg = m.checked_mul(n)?;
    // 2e6 coefficients (32 MB) cover a sample of 8 against 250 000 runs.
    if deg > 2_000_000 {
        return None;
    }
    let mut c: Vec<i128> = vec![0; deg + 1];
    c[0] = 1;
    let mut cur = 0usize; // degree of the current polynomial
    for i in 1..=m {
        let up = n + i;
        let new_deg = cur + n;
        // multiply by (1 − q^up), from the top down
        // (only the coefficients up to new_deg matter: the quotient has that degree)
        if up <= new_deg {
            for d in (up..=new_deg).rev() {
                c[d] = c[d].checked_sub(c[d - up])?;
            }
        }
        // divide by (1 − q^i): d[u] = c[u] + d[u − i]
        for d in i..=new_deg {
            c[d] = c[d].checked_add(c[d - i])?;
        }
        cur = new_deg;
    }
    c.into_iter().map(|x| u128::try_from(x).ok()).collect()
}

/// Holm–Bonferroni adjusted p-values, in the order of `ps`: reject hypothesis i at family-wise
/// error rate alpha when `adjusted[i] <= alpha`. NaN p-values are left out of the family and
/// stay NaN.
pub fn holm(ps: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..ps.len()).filter(|&i| !ps[i].is_nan()).collect();
    order.sort_by(|&x, &y| ps[x].total_cmp(&ps[y]));
    let m = order.len();
    let mut out = vec![f64::NAN; ps.len()];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        let adj = ((m - rank) as f64 * ps[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn mser5_drops_a_warm_up_and_keeps_a_steady_series() {
        let mut warm: Vec<f64> = (0..10).map(|i| 100.0 - 10.0 * f64::from(i)).collect();
        warm.extend((0..40).map(|i| 1.0 + f64::from(i % 3) * 0.01));
        assert_eq!(mser5(&warm), 10);
        let steady: Vec<f64> = (0..40).map(|i| 1.0 + f64::from(i % 2)).collect();
        assert_eq!(mser5(&steady), 0);
        assert_eq!(mser5(&[1.0, 2.0, 3.0]), 0);
        assert_eq!(mser5(&[]), 0);
        // Two batches: the second alone has no standard error to compare.
        let two = [9.0, 9.5, 10.0, 10.5, 11.0, 10.2, 9.8, 10.1, 9.9, 10.0];
        assert_eq!(mser5(&two), 0);
    }

    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn summary_of_a_sample() {
        let s = summarize(&[3.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!(s.n, 4);
        assert_eq!(s.mean, 4.0);
        assert_eq!(s.median, 2.5);
        assert!(close(s.stddev, (50.0f64 / 3.0).sqrt(), 1e-15));
        assert_eq!((s.min, s.max), (1.0, 10.0));
        let one = summarize(&[5.0]).unwrap();
        assert_eq!((one.n, one.mean, one.median), (1, 5.0, 5.0));
        assert!(one.stddev.is_nan());
        assert_eq!((one.ci_lo, one.ci_hi), (5.0, 5.0));
        assert!(summarize(&[]).is_none());
        assert!(summarize(&[f64::NAN]).is_none());
    }

    #[test]
    fn interval_and_quartiles() {
        let s = summarize(&[1.0, 2.0, 3.0]).unwrap();
        // sd = 1, se = 1/sqrt(3); t(2; 0.975) solves t/sqrt(2+t^2) = 0.95
        assert!(close(
            s.ci_hi,
            2.0 + (1.805f64 / 0.0975).sqrt() / 3f64.sqrt(),
            1e-12
        ));
        assert_eq!((s.median, s.q1, s.q3), (2.0, 1.5, 2.5));
        assert!(close(quantile(&[1.0, 2.0, 3.0, 4.0], 0.999), 3.997, 1e-15));
    }

    #[test]
    fn whiskers_and_outliers() {
        let v = [1.0, 2.0, 2.0, 3.0, 3.0, 100.0];
        let s = summarize(&v).unwrap();
        let (lo, hi, out) = s.whiskers(&v);
        assert_eq!((lo, hi), (1.0, 3.0));
        assert_eq!(out, vec![100.0]);
    }

    #[test]
    fn welch_matches_hand_computation() {
        // a: mean 2, var 1; b: mean 5, var 4; n = 3 each
        let w = welch(&[1.0, 2.0, 3.0], &[3.0, 5.0, 7.0]).unwrap();
        let se = (1.0f64 / 3.0 + 4.0 / 3.0).sqrt();
        assert!(close(w.t, -3.0 / se, 1e-14));
        // df = (5/3)² / ((1/3)²/2 + (4/3)²/2) = (25/9) / (17/18) = 50/17
        assert!(close(w.df, 50.0 / 17.0, 1e-14));
        assert!(w.p > 0.05 && w.p < 0.2, "p = {}", w.p);
        assert!(welch(&[1.0], &[1.0, 2.0]).is_none());
    }

    #[test]
    fn t_distribution_known_values() {
        // t = 2.0, df = 10: two-sided p = 0.07338803477074...
        assert!(close(
            t_two_sided_p(2.0, 10.0),
            0.073_388_034_770_740_7,
            1e-9
        ));
        // Cauchy (df = 1): P(|T| ≥ 1) = 0.5 exactly
        assert!(close(t_two_sided_p(1.0, 1.0), 0.5, 1e-12));
        // classic table value t_{0.975, 10} = 2.228138851986...
        assert!(close(t_critical(10.0, 0.05), 2.228_138_851_986_273, 1e-12));
        assert!(close(t_critical(1.0, 0.05), 12.706_204_736_174_7, 1e-12));
    }

    #[test]
    fn constant_samples() {
        let w = welch(&[2.0, 2.0], &[3.0, 3.0, 3.0]).unwrap();
        assert_eq!((w.p, w.t), (0.0, f64::NEG_INFINITY));
        let same = welch(&[2.0, 2.0], &[2.0, 2.0]).unwrap();
        assert_eq!(same.p, 1.0);
        assert_eq!(
            fieller_ratio_ci(&[3.0, 3.0], &[2.0, 2.0], 0.95),
            Some(RatioCi::Bounded(1.5, 1.5))
        );
        assert_eq!(mann_whitney_u(&[1.0, 1.0], &[1.0, 1.0]).unwrap().p, 1.0);
    }

    #[test]
    fn fieller_contains_the_ratio_and_agrees_with_welch() {
        let num = [10.2, 10.8, 11.1, 10.5];
        let den = [9.9, 10.1, 10.0, 10.3];
        let Some(RatioCi::Bounded(lo, hi)) = fieller_ratio_ci(&num, &den, 0.95) else {
            panic!("bounded interval expected")
        };
        let r = mean(&num) / mean(&den);
        assert!(lo < r && r < hi);
        let p = welch(&num, &den).unwrap().p;
        assert_eq!(lo > 1.0, p < 0.05, "interval [{lo}, {hi}] vs p = {p}");
        // A denominator indistinguishable from zero gives an unbounded interval.
        assert_eq!(
            fieller_ratio_ci(&[1.0, 2.0], &[-1.0, 1.5], 0.95),
            Some(RatioCi::Unbounded)
        );
    }

    #[test]
    fn mann_whitney_exact_small_samples() {
        // Complete separation with 3 vs 3: P = 2 / C(6,3) = 0.1
        let r = mann_whitney_u(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
        assert_eq!(r.method, MwuMethod::Exact);
        assert_eq!(r.u, 0.0);
        assert!(close(r.p, 0.1, 1e-15));
        // U counts for m = 2, n = 2: [1, 1, 2, 1, 1]
        assert_eq!(u_counts(2, 2).unwrap(), vec![1, 1, 2, 1, 1]);
        let total: u128 = u_counts(4, 7).unwrap().iter().sum();
        assert_eq!(total, 330); // C(11, 4)
    }

    #[test]
    fn mann_whitney_ties_use_the_normal_approximation() {
        let r = mann_whitney_u(&[1.0, 2.0, 2.0, 3.0], &[2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!(r.method, MwuMethod::Asymptotic);
        assert!(r.p > 0.0 && r.p <= 1.0);
    }

    #[test]
    fn erfc_is_accurate() {
        // reference values from mpmath at 30 digits
        let cases = [
            (0.0, 1.0),
            (0.1, 0.887_537_083_981_715),
            (0.908_558_037_225_123_7, 0.198_828_944_016_442_38),
            (1.999, 0.004_698_443_348_629_488),
            (2.0, 0.004_677_734_981_047_266),
            (3.5, 7.430_983_723_414_128e-7),
            (10.0, 2.088_487_583_762_545e-45),
            (-1.0, 1.842_700_792_949_715),
        ];
        for (x, want) in cases {
            assert!(close(erfc(x), want, 1e-14), "erfc({x}) = {:e}", erfc(x));
        }
    }

    #[test]
    fn holm_adjustment() {
        let adj = holm(&[0.01, 0.04, 0.03, f64::NAN, 0.005]);
        // sorted: 0.005 (x4) = 0.02, 0.01 (x3) = 0.03, 0.03 (x2) = 0.06, 0.04 (x1) -> max 0.06
        let want = [0.03, 0.06, 0.06, f64::NAN, 0.02];
        for (a, b) in adj.iter().zip(want) {
            assert!(a.is_nan() && b.is_nan() || close(*a, b, 1e-12), "{adj:?}");
        }
        assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }
}
