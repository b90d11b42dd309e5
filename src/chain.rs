//! A call chain as the analyses explain it: from a routine down to what sleeps (may-sleep), or
//! from a system call down to a slot call made without the lock (bkl).

use serde::Serialize;

/// One step of a chain: in `function` at `file:line`, the call `call`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChainStep {
    pub function: String,
    pub file: String,
    pub line: u32,
    pub call: String,
}

/// `sys_socket -> sock_create -> net_families[family]->create`.
pub fn chain_text(chain: &[ChainStep]) -> String {
    let mut parts: Vec<&str> = chain.iter().map(|s| s.function.as_str()).collect();
    if let Some(last) = chain.last() {
        parts.push(&last.call);
    }
    parts.join(" -> ")
}
