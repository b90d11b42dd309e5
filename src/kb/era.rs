//! Eras of the kernel: which knowledge base and which family of rules a tree gets.
//!
//! Each built-in knowledge base opens with an `[era]` section: the kernel versions it covers
//! and the rules that apply there. 2.4 and before pin a module with `MOD_INC_USE_COUNT` under
//! the big kernel lock; from 2.5 on the core pins through `owner` fields and
//! `try_module_get`, and neither the lock nor the macro exists.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// A kernel release as the top-level Makefile gives it: `VERSION.PATCHLEVEL.SUBLEVEL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl FromStr for KernelVersion {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let mut parts = text.trim().split('.').map(|p| p.parse::<u32>());
        let bad = || format!("`{text}` is not a kernel version (like 2.4 or 6.1.12)");
        let major = parts.next().and_then(Result::ok).ok_or_else(bad)?;
        let minor = parts.next().and_then(Result::ok).ok_or_else(bad)?;
        let patch = match parts.next() {
            Some(p) => p.map_err(|_| bad())?,
            None => 0,
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Self {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl<'de> Deserialize<'de> for KernelVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Which rules apply to an era's trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleFamily {
    /// The mail's two rules: the big kernel lock and `MOD_INC_USE_COUNT` (MR001-MR006).
    #[default]
    UseCount,
    /// Owner fields and `try_module_get`/`module_put` (MR1xx).
    ModuleRef,
}

impl RuleFamily {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleFamily::UseCount => "use-count",
            RuleFamily::ModuleRef => "module-ref",
        }
    }
}

/// The knowledge base's `[era]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Era {
    /// How users name the era (`--era linux-2.4`).
    pub name: String,
    /// The first release the knowledge base covers.
    pub first: Option<KernelVersion>,
    /// The first release it no longer covers.
    pub until: Option<KernelVersion>,
    pub rules: RuleFamily,
    /// One line on what sets the era apart.
    pub about: String,
}

impl Era {
    pub fn covers(&self, v: KernelVersion) -> bool {
        self.first.is_none_or(|f| f <= v) && self.until.is_none_or(|u| v < u)
    }
}

/// How the era of a run was chosen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "by")]
pub enum EraChoice {
    /// `--era NAME`.
    Given,
    /// The tree's top-level Makefile says its version.
    Makefile { version: String },
    /// No top-level Makefile with a version was found: the default era.
    Assumed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        let v = |s: &str| s.parse::<KernelVersion>().unwrap();
        assert!(v("2.3.41") < v("2.4"));
        assert!(v("2.4.0") < v("2.5"));
        assert_eq!(v("6.1").to_string(), "6.1.0");
        assert!("6".parse::<KernelVersion>().is_err());
        assert!("6.x".parse::<KernelVersion>().is_err());
        assert!("1.2.3.4".parse::<KernelVersion>().is_err());
        let era = Era {
            first: Some(v("1.0")),
            until: Some(v("2.5")),
            ..Era::default()
        };
        assert!(era.covers(v("2.4.0")) && era.covers(v("1.0")));
        assert!(!era.covers(v("2.5.0")) && !era.covers(v("6.1")));
    }
}
