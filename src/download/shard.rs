//! `--shard K/N`: one selection split over a cluster's job array. A series belongs to shard
//! `hash(SeriesInstanceUID) mod N + 1`, with a fixed hash (FNV-1a 64 and a SplitMix64 finaliser),
//! so every machine and every run agrees whatever the input order.

use std::fmt;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 1-based.
    pub k: u32,
    pub n: u32,
}

/// The stable 64-bit hash of a UID.
pub fn uid_hash(uid: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in uid.trim().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // SplitMix64 finaliser: spreads UIDs that differ only in their last digits.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

impl Shard {
    pub fn contains(&self, uid: &str) -> bool {
        uid_hash(uid) % u64::from(self.n) == u64::from(self.k - 1)
    }

    /// Suffix for this shard's own files: `shard-2-of-4`.
    pub fn suffix(&self) -> String {
        format!("shard-{}-of-{}", self.k, self.n)
    }

    /// `K/N`, or `auto` from the job array's environment: Slurm (SLURM_ARRAY_TASK_ID,
    /// SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT) or a Kubernetes Indexed Job
    /// (JOB_COMPLETION_INDEX, 0-based, with `--shards N`).
    pub fn resolve(
        spec: &str,
        shards: Option<u32>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Shard, String> {
        let spec = spec.trim();
        if spec.eq_ignore_ascii_case("auto") {
            let num = |name: &str| -> Result<Option<u32>, String> {
                match env(name) {
                    None => Ok(None),
                    Some(v) => v
                        .trim()
                        .parse::<u32>()
                        .map(Some)
                        .map_err(|_| format!("--shard auto: {name}={v} is not a number")),
                }
            };
            if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
                let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
                // An explicit --shards N wins over the array's count (the caller warns).
                let count = shards.or(num("SLURM_ARRAY_TASK_COUNT")?).ok_or(
                    "--shard auto: SLURM_ARRAY_TASK_COUNT is not set (use an array like --array=1-8, or give --shards N)",
                )?;
                if id < min {
                    return Err(format!("--shard auto: SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}"));
                }
                return Shard::new(id - min + 1, count)
                    .map_err(|e| format!("--shard auto (Slurm): {e}"));
            }
            if let Some(idx) = num("JOB_COMPLETION_INDEX")? {
                let n = shards.ok_or("--shard auto with JOB_COMPLETION_INDEX needs --shards N (the Job's completions)")?;
                return Shard::new(idx + 1, n)
                    .map_err(|e| format!("--shard auto (Kubernetes): {e}"));
            }
            return Err(
                "--shard auto: neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set; give --shard K/N".into(),
            );
        }
        let (k, n) = spec.split_once('/').ok_or_else(|| {
            format!("invalid --shard '{spec}': expected K/N such as 2/8, or auto")
        })?;
        let parse = |s: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|_| format!("invalid --shard '{spec}': expected K/N such as 2/8, or auto"))
        };
        Shard::new(parse(k)?, parse(n)?).map_err(|e| format!("invalid --shard '{spec}': {e}"))
    }

    fn new(k: u32, n: u32) -> Result<Shard, String> {
        if n == 0 || k == 0 || k > n {
            return Err(format!("shard {k} of {n}: K must be between 1 and N"));
        }
        Ok(Shard { k, n })
    }
}

/// A warning when `--shards N` and the job array's own count disagree (N is used).
pub fn count_conflict(shards: Option<u32>, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let n = shards?;
    let v = env("SLURM_ARRAY_TASK_COUNT")?;
    let count: u32 = v.trim().parse().ok()?;
    (count != n).then(|| {
        format!("--shards {n} differs from SLURM_ARRAY_TASK_COUNT={count}; using --shards {n}")
    })
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    /// A deterministic pseudo-random UID set (no extra crates).
    fn uids(seed: u64, count: usize) -> Vec<String> {
        let mut x = seed;
        (0..count)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                format!(
                    "1.3.6.1.4.1.14519.5.2.1.{}.{}",
                    x >> 40,
                    (x >> 8) & 0xffff_ffff
                )
            })
            .collect()
    }

    #[test]
    fn shards_partition_any_set_for_any_n() {
        for seed in 0..12u64 {
            let set = uids(seed, 1 + (seed as usize * 37) % 300);
            for n in 1..=64u32 {
                let mut owner = vec![0u32; set.len()];
                for k in 1..=n {
                    let s = Shard { k, n };
                    for (i, u) in set.iter().enumerate() {
                        if s.contains(u) {
                            owner[i] += 1;
                        }
                    }
                }
                assert!(
                    owner.iter().all(|&c| c == 1),
                    "seed {seed}, n {n}: disjoint and covering"
                );
            }
            // Independent of order: the assignment is a function of the UID alone.
            let mut rev = set.clone();
            rev.reverse();
            let a: Vec<bool> = set
                .iter()
                .map(|u| Shard { k: 2, n: 5 }.contains(u))
                .collect();
            let mut b: Vec<bool> = rev
                .iter()
                .map(|u| Shard { k: 2, n: 5 }.contains(u))
                .collect();
            b.reverse();
            assert_eq!(a, b);
        }
    }

    #[test]
    fn shards_are_balanced() {
        let set = uids(7, 8000);
        for k in 1..=8 {
            let c = set.iter().filter(|u| Shard { k, n: 8 }.contains(u)).count();
            assert!((800..1200).contains(&c), "shard {k}: {c}");
        }
    }

    #[test]
    fn the_hash_is_fixed() {
        // Pinned: changing the hash would move series between the shards of running clusters.
        assert_eq!(
            uid_hash("1.3.6.1.4.1.14519.5.2.1.6279.6001.141365756818074696859567662357"),
            0x2a16_d6a3_510e_2b46
        );
        assert_eq!(uid_hash("1.2.3"), 0x3f17_7b2b_a89a_910a);
        assert_eq!(uid_hash(" 1.2.3\n"), uid_hash("1.2.3"));
    }

    #[test]
    fn specs_and_environments() {
        let none = env(&[]);
        assert_eq!(Shard::resolve("2/8", None, &none), Ok(Shard { k: 2, n: 8 }));
        assert!(Shard::resolve("0/8", None, &none).is_err());
        assert!(Shard::resolve("9/8", None, &none).is_err());
        assert!(Shard::resolve("x", None, &none).is_err());
        assert!(Shard::resolve("auto", None, &none)
            .unwrap_err()
            .contains("SLURM_ARRAY_TASK_ID"));
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
        ]);
        assert_eq!(
            Shard::resolve("auto", None, &slurm),
            Ok(Shard { k: 5, n: 8 })
        );
        let slurm0 = env(&[
            ("SLURM_ARRAY_TASK_ID", "0"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(
            Shard::resolve("auto", None, &slurm0),
            Ok(Shard { k: 1, n: 4 })
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "3")]);
        assert_eq!(
            Shard::resolve("auto", Some(4), &k8s),
            Ok(Shard { k: 4, n: 4 })
        );
        assert!(Shard::resolve("auto", None, &k8s)
            .unwrap_err()
            .contains("--shards"));
        assert!(
            Shard::resolve("auto", Some(3), &k8s).is_err(),
            "index 3 is shard 4 of 3"
        );
    }
}
