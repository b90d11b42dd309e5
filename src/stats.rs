//! `modrace stats`: how well the front end reads a tree.

use std::collections::HashMap;

use serde::Serialize;

use crate::scan::Scan;

#[derive(Debug, Serialize)]
pub struct Stats {
    pub files: usize,
    pub bytes: usize,
    pub functions: usize,
    pub functions_with_errors: usize,
    pub parse_clean_ratio: f64,
    /// Wall time; only with `--timings` (outputs are the same from run to run without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// Functions that use MOD_INC_USE_COUNT and were not parsed cleanly, with why.
    pub mod_inc_functions_with_errors: Vec<ErrorSite>,
    /// The most frequent causes of error nodes, most frequent first.
    pub top_error_causes: Vec<Cause>,
    pub warnings: usize,
}

#[derive(Debug, Serialize)]
pub struct ErrorSite {
    pub file: String,
    pub line: u32,
    pub function: Option<String>,
    pub cause: String,
}

#[derive(Debug, Serialize)]
pub struct Cause {
    pub cause: String,
    pub count: usize,
    pub example: String,
}

pub fn compute(scan: &Scan, top: usize) -> Stats {
    let mut functions = 0;
    let mut with_errors = 0;
    let mut mod_inc = Vec::new();
    let mut causes: HashMap<&str, (usize, String)> = HashMap::new();
    for f in &scan.files {
        functions += f.functions.len() + f.broken_functions.len();
        with_errors += f.functions.iter().filter(|x| x.has_error).count();
        with_errors += f.broken_functions.len();
        for func in f.functions.iter().filter(|x| x.has_error && x.uses_mod_inc) {
            let first = f
                .errors
                .iter()
                .find(|e| e.function.as_deref() == Some(func.name.as_str()));
            mod_inc.push(ErrorSite {
                file: f.path.to_string(),
                line: first.map_or(func.line, |e| e.line),
                function: Some(func.name.to_string()),
                cause: first.map_or_else(|| "error node".into(), |e| e.cause.clone()),
            });
        }
        for b in f.broken_functions.iter().filter(|b| b.uses_mod_inc) {
            mod_inc.push(ErrorSite {
                file: f.path.to_string(),
                line: b.line,
                function: None,
                cause: format!("function lost in a top-level error: {}", b.cause),
            });
        }
        for e in &f.errors {
            let entry = causes
                .entry(e.cause.as_str())
                .or_insert_with(|| (0, format!("{}:{}", f.path, e.line)));
            entry.0 += 1;
        }
    }
    let mut top_causes: Vec<Cause> = causes
        .into_iter()
        .map(|(cause, (count, example))| Cause {
            cause: cause.to_string(),
            count,
            example,
        })
        .collect();
    top_causes.sort_by(|a, b| b.count.cmp(&a.count).then(a.cause.cmp(&b.cause)));
    top_causes.truncate(top);
    Stats {
        files: scan.files.len(),
        bytes: scan.files.iter().map(|f| f.bytes).sum(),
        functions,
        functions_with_errors: with_errors,
        parse_clean_ratio: if functions == 0 {
            1.0
        } else {
            (functions - with_errors) as f64 / functions as f64
        },
        seconds: Some(scan.seconds),
        mod_inc_functions_with_errors: mod_inc,
        top_error_causes: top_causes,
        warnings: scan.warnings.len(),
    }
}

impl Stats {
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "files: {}\nbytes: {}\nfunctions: {}\nfunctions_with_errors: {}\nparse_clean_ratio: {:.4}\n",
            self.files,
            self.bytes,
            self.functions,
            self.functions_with_errors,
            self.parse_clean_ratio,
        );
        if let Some(seconds) = self.seconds {
            out.push_str(&format!("seconds: {seconds:.2}\n"));
        }
        if !self.top_error_causes.is_empty() {
            out.push_str("\nmost frequent causes of error nodes:\n");
            for c in &self.top_error_causes {
                out.push_str(&format!(
                    "  {:6}  {}  (e.g. {})\n",
                    c.count, c.cause, c.example
                ));
            }
        }
        if !self.mod_inc_functions_with_errors.is_empty() {
            out.push_str("\nfunctions using MOD_INC_USE_COUNT with parse errors:\n");
            for s in &self.mod_inc_functions_with_errors {
                out.push_str(&format!(
                    "  {}:{}: {}: {}\n",
                    s.file,
                    s.line,
                    s.function.as_deref().unwrap_or("?"),
                    s.cause
                ));
            }
        }
        crate::diag::escape_terminal(&out).into_owned()
    }
}
