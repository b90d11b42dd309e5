use super::*;
use crate::facts::{self, FrontEnd};
use crate::kb::Kb;

fn facts_of(src: &str) -> FileFacts {
    let kb = Kb::builtin();
    let front_end = FrontEnd::new(&kb.data, &[], &[]);
    facts::extract_with("a.c", src.as_bytes(), &front_end, &BodyPolicy::All)
}

const SRC: &str = "int f(int x) { if (x) return g(x); return 0; }\n";

fn json(f: &FileFacts) -> String {
    serde_json::to_string(f).unwrap()
}

/// The one entry file under the cache's facts folder.
fn only_entry(cache: &Cache) -> PathBuf {
    let mut found = Vec::new();
    for fan in std::fs::read_dir(cache.root().join("facts")).unwrap() {
        for e in std::fs::read_dir(fan.unwrap().path()).unwrap() {
            found.push(e.unwrap().path());
        }
    }
    assert_eq!(found.len(), 1, "{found:?}");
    found.pop().unwrap()
}

#[test]
fn facts_come_back_as_they_went_in() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
    let facts = facts_of(SRC);
    let (options, content) = (Key(7), Key::of(SRC.as_bytes()));
    assert!(cache.get_facts(options, content).is_none());
    cache.put_facts(options, content, &facts);
    let back = cache.get_facts(options, content).expect("a hit");
    assert_eq!(json(&back), json(&facts));
    assert!(!back.functions[0].body.is_empty());
    // Other options, or other bytes, are other entries.
    assert!(cache.get_facts(Key(8), content).is_none());
    assert!(cache.get_facts(options, Key::of(b"int g;")).is_none());
}

#[test]
fn another_build_never_reads_an_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut older = Cache::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
    older.build = "0.0.1+older".into();
    let content = Key::of(SRC.as_bytes());
    older.put_facts(Key(1), content, &facts_of(SRC));
    assert!(older.get_facts(Key(1), content).is_some());
    let current = Cache::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
    assert!(current.get_facts(Key(1), content).is_none());
}

#[test]
fn a_damaged_entry_is_a_miss_and_is_written_anew() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
    let facts = facts_of(SRC);
    let content = Key::of(SRC.as_bytes());
    cache.put_facts(Key(1), content, &facts);
    let path = only_entry(&cache);
    let good = std::fs::read(&path).unwrap();
    let damages: Vec<(&str, Vec<u8>)> = vec![
        ("truncated payload", good[..good.len() - 3].to_vec()),
        ("truncated header", good[..20].to_vec()),
        ("empty", Vec::new()),
        ("flipped payload byte", {
            let mut b = good.clone();
            b[HEADER + 5] ^= 0x40;
            b
        }),
        ("wrong magic", {
            let mut b = good.clone();
            b[0] = b'X';
            b
        }),
        ("longer", {
            let mut b = good.clone();
            b.extend_from_slice(b"tail");
            b
        }),
        ("another entry's key", {
            let mut b = good.clone();
            b[16] ^= 1;
            b
        }),
    ];
    for (what, bytes) in damages {
        std::fs::write(&path, &bytes).unwrap();
        assert!(cache.get_facts(Key(1), content).is_none(), "{what}");
        cache.put_facts(Key(1), content, &facts);
        assert_eq!(std::fs::read(&path).unwrap(), good, "{what}: rewritten");
    }
}

#[test]
fn a_payload_that_checks_out_but_does_not_decode_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
    let content = Key::of(b"x");
    let key = cache.entry_key(Kind::Facts, Key(1), content);
    // A well-formed entry whose payload is not a FileFacts (a forged or older layout).
    cache.write(Kind::Facts, key, &[0xff; 40]);
    assert!(cache.get_facts(Key(1), content).is_none());
}

#[test]
fn eviction_keeps_the_newest_entries_under_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
    let old = SystemTime::now() - Duration::from_secs(3600);
    for i in 0..10u8 {
        cache.put_memo(Key(u128::from(i)), &vec![i; 1000]);
        {
            let path = cache.path(
                Kind::Memo,
                cache.entry_key(Kind::Memo, Key(i.into()), Key(i.into())),
            );
            let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            f.set_modified(old + Duration::from_secs(u64::from(i)))
                .unwrap();
        }
    }
    let total = cache.size_on_disk();
    let bound = total / 2;
    evict::evict(cache.root(), bound);
    assert!(cache.size_on_disk() <= bound / 4 * 3);
    // The oldest entries went first; the newest stayed.
    for i in 0..5u8 {
        assert!(cache.get_memo::<Vec<u8>>(Key(i.into())).is_none(), "{i}");
    }
    assert_eq!(cache.get_memo::<Vec<u8>>(Key(9)), Some(vec![9; 1000]));
}

#[test]
fn keys_of_parts_do_not_run_together() {
    let ab_c = KeyBuilder::default().str("ab").str("c").finish();
    let a_bc = KeyBuilder::default().str("a").str("bc").finish();
    assert_ne!(ab_c, a_bc);
    let all = KeyBuilder::default().body_policy(&BodyPolicy::All).finish();
    let some = KeyBuilder::default()
        .body_policy(&BodyPolicy::mentioning(&["MOD_INC_USE_COUNT"]))
        .finish();
    let other = KeyBuilder::default()
        .body_policy(&BodyPolicy::mentioning(&["lock_kernel"]))
        .finish();
    assert!(all != some && some != other);
}

#[test]
fn the_ledger_lists_the_entries_only_after_enough_writes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
    for i in 0..8u8 {
        cache.put_memo(Key(u128::from(i)), &vec![i; 1000]);
    }
    let total = cache.size_on_disk();
    // A bound the entries are over, and a run that wrote too little to look.
    let bound = total / 2;
    evict::after_writes(cache.root(), bound, 1);
    assert_eq!(cache.size_on_disk(), total, "no listing yet");
    // Bytes enough to pass a sixteenth of the bound: the oldest go.
    evict::after_writes(cache.root(), bound, bound / 16);
    assert!(cache.size_on_disk() <= bound / 4 * 3);
    let ledger = std::fs::read_to_string(cache.root().join("written")).unwrap();
    assert_eq!(ledger, "0");
}
