//! Bounded capture of a command's output.

/// Keeps the first `cap` bytes pushed into it and counts (but drops) the rest.
///
/// The pipe must keep being drained past the cap: a child blocked on a full pipe would never
/// exit, and the request would end in a timeout instead of a truncated result.
#[derive(Debug)]
pub(crate) struct CappedBuf {
    data: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl CappedBuf {
    pub(crate) fn new(cap: usize) -> Self {
        CappedBuf {
            data: Vec::new(),
            cap,
            truncated: false,
        }
    }

    /// Append what fits; remember whether anything did not.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let room = self.cap - self.data.len();
        if bytes.len() > room {
            self.truncated = true;
        }
        self.data.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    pub(crate) fn truncated(&self) -> bool {
        self.truncated
    }

    /// Decode lossily as UTF-8. When the cap cut a multi-byte character in half, the partial
    /// character is dropped rather than turned into a replacement character.
    pub(crate) fn into_string(self) -> String {
        let mut data = self.data;
        if self.truncated
            && let Err(e) = std::str::from_utf8(&data)
            && e.error_len().is_none()
        {
            data.truncate(e.valid_up_to());
        }
        String::from_utf8_lossy(&data).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::CappedBuf;

    #[test]
    fn keeps_up_to_cap_and_flags_truncation() {
        let mut buf = CappedBuf::new(5);
        buf.push(b"abc");
        assert!(!buf.truncated());
        buf.push(b"de");
        assert!(!buf.truncated());
        buf.push(b"");
        assert!(!buf.truncated());
        buf.push(b"f");
        assert!(buf.truncated());
        buf.push(b"ghij");
        assert_eq!(buf.into_string(), "abcde");
    }

    #[test]
    fn exact_fit_is_not_truncated() {
        let mut buf = CappedBuf::new(3);
        buf.push(b"abc");
        assert!(!buf.truncated());
        assert_eq!(buf.into_string(), "abc");
    }

    #[test]
    fn split_character_is_dropped_and_invalid_bytes_replaced() {
        let mut buf = CappedBuf::new(4);
        buf.push("ab€".as_bytes()); // € is 3 bytes: only 2 fit
        assert!(buf.truncated());
        assert_eq!(buf.into_string(), "ab");
        let mut buf = CappedBuf::new(10);
        buf.push(b"a\xffb");
        assert_eq!(buf.into_string(), "a\u{fffd}b");
    }
}
