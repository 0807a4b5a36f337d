//! A command's output: bounded readers for stdout and stderr, and turning stdout into a value.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// The least room made before a read. Most commands write a few bytes or
/// nothing (to stderr especially), so buffers start small and then double.
const CHUNK: usize = 512;

/// Makes room in `buf` for the next read: at least a chunk, and as much again
/// as it holds (so a long output is read in few, growing reads).
fn make_room(buf: &mut Vec<u8>) {
    if buf.capacity() - buf.len() < CHUNK {
        buf.reserve(CHUNK.max(buf.len()));
    }
}

/// Reads `pipe` to its end into `buf`, stopping early when more than `limit`
/// bytes have arrived. Returns whether the limit was exceeded.
///
/// Memory stays within about twice `limit` plus one chunk, whatever the writer does.
/// Cancel-safe between reads: bytes read so far stay in `buf`.
pub(super) async fn read_capped<R: AsyncRead + Unpin>(
    pipe: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> io::Result<bool> {
    loop {
        make_room(buf);
        if pipe.read_buf(buf).await? == 0 {
            return Ok(false);
        }
        if buf.len() > limit {
            return Ok(true);
        }
    }
}

/// Reads `pipe` to its end, keeping (at least) the last `keep` bytes in `buf`.
///
/// The front of `buf` is dropped whenever it grows past twice what must be kept,
/// so memory is bounded and each byte is moved O(1) times on average.
pub(super) async fn read_tail<R: AsyncRead + Unpin>(
    pipe: &mut R,
    buf: &mut Vec<u8>,
    keep: usize,
) -> io::Result<()> {
    let high_water = keep.max(CHUNK).saturating_mul(2);
    loop {
        make_room(buf);
        if pipe.read_buf(buf).await? == 0 {
            return Ok(());
        }
        if buf.len() >= high_water {
            buf.drain(..buf.len() - keep);
        }
    }
}

/// The last `keep` bytes of `buf` as text, for an error message: invalid UTF-8
/// replaced, a character cut in half at the front dropped, trailing whitespace removed.
pub(in crate::exec) fn tail_text(buf: &[u8], keep: usize) -> String {
    let mut start = buf.len().saturating_sub(keep);
    // skip the continuation bytes of a character whose first byte was cut off
    let mut skipped = 0;
    while start < buf.len() && skipped < 3 && buf[start] & 0b1100_0000 == 0b1000_0000 {
        start += 1;
        skipped += 1;
    }
    // Cut at the front: start at the next whole line, when one follows.
    if start > 0 {
        if let Some(newline) = buf[start..].iter().position(|&b| b == b'\n') {
            if buf[start + newline + 1..]
                .iter()
                .any(|b| !b.is_ascii_whitespace())
            {
                start += newline + 1;
            }
        }
    }
    String::from_utf8_lossy(&buf[start..])
        .trim_end()
        .to_string()
}

/// A command's stdout as text: invalid UTF-8 replaced by U+FFFD, one final
/// newline removed (`"a\n"` is `"a"`, `"a\n\n"` is `"a\n"`, `"a\r\n"` is
/// `"a"`); no output at all is `""`. Never parsed: `1.10` stays `1.10`.
pub fn stdout_text(bytes: Vec<u8>) -> String {
    let mut text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    };
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    // the buffer grew in chunks; results may be kept for the whole run
    text.shrink_to_fit();
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_is_text_without_its_final_newline() {
        let cases: &[(&[u8], &str)] = &[
            (b"", ""),
            (b"\n", ""),
            (b"42\n", "42"),
            (b"1.10\n", "1.10"),
            (b"\"quoted\"", "\"quoted\""),
            (b"hello\r\n", "hello"),
            (b"a\n\n", "a\n"),
            (b"a", "a"),
            (b"\xffa\n", "\u{FFFD}a"),
        ];
        for (bytes, text) in cases {
            assert_eq!(stdout_text(bytes.to_vec()), *text, "for {bytes:?}");
        }
    }

    #[test]
    fn text_results_keep_no_spare_buffer() {
        let mut bytes = Vec::with_capacity(4096);
        bytes.extend_from_slice(b"short\n");
        let text = stdout_text(bytes);
        assert_eq!(text.capacity(), text.len());
    }

    #[test]
    fn tail_text_keeps_the_end_and_whole_characters() {
        assert_eq!(tail_text(b"hello world\n", 6), "world");
        assert_eq!(tail_text("aé".as_bytes(), 1), "");
        assert_eq!(tail_text("xxé!".as_bytes(), 3), "é!");
        assert_eq!(tail_text("xxé!".as_bytes(), 2), "!");
        assert_eq!(tail_text(b"abc", 0), "");
        assert_eq!(tail_text(b"\xff\xfeok", 10), "\u{FFFD}\u{FFFD}ok");
        // A line cut at the front is dropped when a whole one follows.
        assert_eq!(
            tail_text(b"err-line-2415\nerr-line-2416\n", 20),
            "err-line-2416"
        );
        assert_eq!(tail_text(b"one long line", 4), "line");
    }

    #[tokio::test]
    async fn readers_are_bounded() {
        let data = vec![b'x'; 100_000];
        let mut buf = Vec::new();
        assert!(read_capped(&mut &data[..], &mut buf, 1000).await.unwrap());
        assert!(buf.len() <= 1000 + 2 * CHUNK);
        assert!(buf.capacity() <= 2 * (1000 + CHUNK), "{}", buf.capacity());

        let mut buf = Vec::new();
        assert!(!read_capped(&mut &data[..], &mut buf, 100_000)
            .await
            .unwrap());
        assert_eq!(buf.len(), 100_000);

        let mut data = vec![b'x'; 100_000];
        data.extend_from_slice(b"END");
        let mut buf = Vec::new();
        read_tail(&mut &data[..], &mut buf, 10).await.unwrap();
        assert!(buf.len() < 3 * CHUNK);
        assert!(buf.capacity() <= 6 * CHUNK, "{}", buf.capacity());
        assert_eq!(tail_text(&buf, 10), "xxxxxxxEND");
    }
}
