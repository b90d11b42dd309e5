//! A function's statement tree, decoded from the fact cache only when an analysis reads it.
//!
//! Statement trees are most of a cached file's bytes and most of the time a warm scan spends
//! decoding, but `check` reads few of them: the routines it judges, the helpers and chains it
//! follows. A body that comes from the cache keeps its encoded bytes and decodes them on the
//! first [`Deref`]; one that was just lowered holds its tree from the start. Either way it
//! reads as a [`Body`].

use std::ops::Deref;
use std::sync::OnceLock;

use bincode::de::{BorrowDecoder, Decoder};
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};
use serde::{Serialize, Serializer};

use super::Body;

/// The encoding of a body inside a cache entry (and of the entry itself: see `cache`).
pub fn codec() -> impl bincode::config::Config {
    // Any length in a checked payload is bounded by the payload anyway; the limit guards the
    // decoder against a forged entry.
    bincode::config::standard().with_limit::<{ 1 << 30 }>()
}

/// A [`Body`], or the bytes it decodes from.
#[derive(Clone, Default)]
pub struct LazyBody {
    /// Statements in the tree: known without decoding it.
    len: u32,
    /// The encoded tree, when it came from the cache and was not read yet.
    encoded: Option<Box<[u8]>>,
    body: OnceLock<Body>,
}

impl LazyBody {
    /// Whether the function has no statement tree (not lowered, or empty): never decodes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes of the encoded tree it holds besides (or instead of) the tree.
    pub fn encoded_bytes(&self) -> usize {
        self.encoded.as_ref().map_or(0, |b| b.len())
    }

    /// Whether the tree was decoded (or never encoded): for the size tally, which must not
    /// decode what nothing read.
    pub fn decoded(&self) -> Option<&Body> {
        self.body.get()
    }
}

impl From<Body> for LazyBody {
    fn from(body: Body) -> Self {
        LazyBody {
            len: body.stmts.len() as u32,
            encoded: None,
            body: OnceLock::from(body),
        }
    }
}

impl Deref for LazyBody {
    type Target = Body;

    fn deref(&self) -> &Body {
        self.body.get_or_init(|| {
            // The bytes were checked with the whole entry and written by this very build (the
            // key says so), so they decode; should they not, the function reads as one
            // without a tree, as a body the scan did not lower does.
            let bytes = self.encoded.as_deref().unwrap_or_default();
            match bincode::borrow_decode_from_slice(bytes, codec()) {
                Ok((body, _)) => body,
                Err(_) => Body::default(),
            }
        })
    }
}

impl std::fmt::Debug for LazyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl Serialize for LazyBody {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl bincode::Encode for LazyBody {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        self.len.encode(encoder)?;
        match (&self.encoded, self.body.get()) {
            (Some(bytes), _) => bytes.encode(encoder),
            (None, Some(body)) => bincode::encode_to_vec(body, codec())?.encode(encoder),
            (None, None) => Vec::<u8>::new().encode(encoder),
        }
    }
}

impl<Context> bincode::Decode<Context> for LazyBody {
    fn decode<D: Decoder<Context = Context>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let len = u32::decode(decoder)?;
        let bytes = Vec::<u8>::decode(decoder)?;
        Ok(LazyBody::encoded(len, bytes.into_boxed_slice()))
    }
}

impl<'de, Context> bincode::BorrowDecode<'de, Context> for LazyBody {
    fn borrow_decode<D: BorrowDecoder<'de, Context = Context>>(
        decoder: &mut D,
    ) -> Result<Self, DecodeError> {
        let len = u32::borrow_decode(decoder)?;
        let bytes = <&[u8]>::borrow_decode(decoder)?;
        Ok(LazyBody::encoded(len, bytes.into()))
    }
}

impl LazyBody {
    fn encoded(len: u32, bytes: Box<[u8]>) -> Self {
        // An empty tree needs nothing decoded and nothing kept.
        if len == 0 {
            return LazyBody::default();
        }
        LazyBody {
            len,
            encoded: Some(bytes),
            body: OnceLock::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Span, Stmt, StmtKind};

    fn body(n: usize) -> Body {
        let stmt = Stmt {
            kind: StmtKind::Decl,
            span: Span::at(1, 1),
        };
        Body {
            stmts: vec![stmt; n],
        }
    }

    fn round_trip(lazy: &LazyBody) -> LazyBody {
        let bytes = bincode::encode_to_vec(lazy, codec()).unwrap();
        let (owned, used): (LazyBody, usize) = bincode::decode_from_slice(&bytes, codec()).unwrap();
        assert_eq!(used, bytes.len());
        let (borrowed, _): (LazyBody, usize) =
            bincode::borrow_decode_from_slice(&bytes, codec()).unwrap();
        // Compared through a copy: reading `owned` would decode it.
        assert_eq!(format!("{:?}", owned.clone()), format!("{borrowed:?}"));
        owned
    }

    #[test]
    fn decodes_on_first_read_and_reencodes_without_decoding() {
        let lazy = round_trip(&LazyBody::from(body(3)));
        assert!(!lazy.is_empty());
        assert!(lazy.decoded().is_none(), "read before anything asked");
        // Encoded again from its bytes, untouched.
        let again = round_trip(&lazy);
        assert!(lazy.decoded().is_none());
        assert_eq!(again.stmts.len(), 3);
        assert_eq!(lazy.stmts.len(), 3);
        assert!(lazy.decoded().is_some());
    }

    #[test]
    fn empty_bodies_keep_nothing() {
        let lazy = round_trip(&LazyBody::from(Body::default()));
        assert!(lazy.is_empty());
        assert!(lazy.encoded.is_none());
        assert!(lazy.stmts.is_empty());
    }

    #[test]
    fn bytes_that_do_not_decode_read_as_no_tree() {
        let lazy = LazyBody::encoded(2, vec![0xff; 3].into_boxed_slice());
        assert!(lazy.stmts.is_empty());
    }
}
