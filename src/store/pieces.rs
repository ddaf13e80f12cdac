//! A snapshot written in pieces. The engine's encoding runs on a blocking thread and hands each
//! piece to the store as it fills, so the document (tens of megabytes at the default cap of
//! open episodes) is never held whole: at most three pieces are, one being stored, one
//! waiting and one being filled.

use super::{StoreError, StoreResult};
use crate::model::SnapshotSource;
use std::io;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The pieces of one snapshot's document, in order, as the encoding fills them.
pub struct Pieces {
    filled: mpsc::Receiver<Vec<u8>>,
    encoder: JoinHandle<io::Result<()>>,
}

impl Pieces {
    /// Starts encoding `snapshot` into pieces of `size` bytes (the last one shorter).
    pub fn encode(snapshot: Box<dyn SnapshotSource>, size: usize) -> Self {
        let (sender, filled) = mpsc::channel(1);
        let encoder = tokio::task::spawn_blocking(move || {
            let mut out = Filling {
                piece: Vec::with_capacity(size),
                size,
                sender,
            };
            snapshot.write_document(&mut out)?;
            out.send()
        });
        Self { filled, encoder }
    }

    /// The next piece; `None` once the encoding has ended (see [`Self::finish`] for how).
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        self.filled.recv().await
    }

    /// Whether the encoding ended well: call it after the last piece, before publishing what
    /// the pieces made. Dropping `self` instead stops the encoding at its next piece.
    pub async fn finish(self) -> StoreResult<()> {
        drop(self.filled);
        let ended = self.encoder.await.map_err(|e| {
            StoreError::unavailable(format!("encoding the engine snapshot stopped: {e}"))
        })?;
        ended.map_err(|e| StoreError::Invalid {
            field: "engine snapshot".into(),
            message: format!("cannot be encoded: {e}"),
        })
    }
}

/// The piece being filled; full pieces go to the store, waiting while it is one behind.
struct Filling {
    piece: Vec<u8>,
    size: usize,
    sender: mpsc::Sender<Vec<u8>>,
}

impl Filling {
    /// Hands the piece to the store (nothing if it is empty).
    fn send(&mut self) -> io::Result<()> {
        if self.piece.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.piece, Vec::with_capacity(self.size));
        self.sender.blocking_send(full).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the store stopped taking the snapshot",
            )
        })
    }
}

impl io::Write for Filling {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let taken = buf.len().min(self.size - self.piece.len());
        self.piece.extend_from_slice(&buf[..taken]);
        if self.piece.len() == self.size {
            self.send()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EngineSnapshot;

    /// A snapshot whose document is `len` bytes of a JSON string (without its quotes).
    fn snapshot(len: usize) -> EngineSnapshot {
        EngineSnapshot::new(1, &"x".repeat(len)).unwrap()
    }

    fn document(snapshot: &EngineSnapshot) -> Vec<u8> {
        let mut document = Vec::new();
        snapshot.write_document(&mut document).unwrap();
        document
    }

    #[tokio::test]
    async fn pieces_are_full_but_the_last_and_join_into_the_document() {
        let snapshot = snapshot(10_000);
        let expected = document(&snapshot);
        let mut pieces = Pieces::encode(Box::new(snapshot), 1_000);
        let mut got = Vec::new();
        while let Some(piece) = pieces.next().await {
            got.push(piece);
        }
        pieces.finish().await.unwrap();
        assert_eq!(got.len(), expected.len().div_ceil(1_000));
        let (last, full) = got.split_last().unwrap();
        assert!(full.iter().all(|p| p.len() == 1_000));
        assert_eq!(last.len(), expected.len() - 1_000 * full.len());
        assert!(got.concat() == expected);
    }

    /// Failing after `len` bytes.
    struct Fails(usize);

    impl SnapshotSource for Fails {
        fn write_document(&self, out: &mut dyn io::Write) -> io::Result<()> {
            out.write_all(&vec![b' '; self.0])?;
            Err(io::Error::other("no more"))
        }
    }

    #[tokio::test]
    async fn an_encoding_that_fails_is_an_error_after_its_pieces() {
        let mut pieces = Pieces::encode(Box::new(Fails(2_500)), 1_000);
        let mut got = 0;
        while let Some(piece) = pieces.next().await {
            got += piece.len();
        }
        assert_eq!(got, 2_000, "the full pieces, not the part-filled one");
        let err = pieces.finish().await.unwrap_err();
        assert!(
            err.to_string().contains("cannot be encoded: no more"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_store_that_stops_taking_pieces_stops_the_encoding() {
        let mut pieces = Pieces::encode(Box::new(snapshot(1 << 20)), 1_000);
        assert!(pieces.next().await.is_some());
        pieces.filled.close();
        let err = pieces.finish().await.unwrap_err();
        assert!(err.to_string().contains("stopped taking"), "{err}");
    }
}
