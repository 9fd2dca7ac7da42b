//! A small standard-alphabet base64 decoder for JSON uploads (RFC 4648 §4).
//!
//! Written here instead of pulling in a crate for thirty lines. Accepts padded and unpadded
//! input, ignores ASCII whitespace (line-wrapped base64 is common), and rejects everything
//! else, including the URL-safe alphabet and non-zero trailing bits.

/// Why a base64 string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

fn value(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decode standard base64.
pub fn decode(input: &str) -> Result<Vec<u8>, DecodeError> {
    let symbols: Vec<u8> = input.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let data_len = symbols
        .iter()
        .rposition(|&b| b != b'=')
        .map_or(0, |i| i + 1);
    let padding = symbols.len() - data_len;
    if padding > 2 || (padding > 0 && !symbols.len().is_multiple_of(4)) {
        return Err(DecodeError("invalid base64 padding".into()));
    }
    if data_len % 4 == 1 {
        return Err(DecodeError("invalid base64 length".into()));
    }
    let mut out = Vec::with_capacity(data_len / 4 * 3 + 2);
    for chunk in symbols[..data_len].chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = value(c).ok_or_else(|| {
                DecodeError(format!("invalid base64 character {:?}", char::from(c)))
            })?;
            acc |= v << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        let n = chunk.len() * 6 / 8;
        // The bits below the last whole byte must be zero in canonical base64.
        if n < 3 && bytes[1 + n] != 0 {
            return Err(DecodeError("invalid base64: non-zero trailing bits".into()));
        }
        out.extend_from_slice(&bytes[1..1 + n]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn rfc4648_vectors() {
        for (enc, dec) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
        ] {
            assert_eq!(decode(enc).unwrap(), dec.as_bytes(), "{enc}");
        }
    }

    #[test]
    fn unpadded_whitespace_and_binary() {
        assert_eq!(decode("Zm9vYg").unwrap(), b"foob");
        assert_eq!(decode("Zm9v\nYmFy\r\n").unwrap(), b"foobar");
        assert_eq!(decode("AP8A/w==").unwrap(), [0, 255, 0, 255]);
        assert_eq!(decode("+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "Z", "Zm9v=", "Zg===", "Z===", "Zm-v", "Zm_v", "Zh==", "Zm9=", "Zg==Zg==", "é",
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
