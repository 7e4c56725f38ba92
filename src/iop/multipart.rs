//! A `multipart/form-data` body (RFC 7578): the text parameters of a call with files,
//! then its file parts, each under a random boundary.

use bytes::{BufMut, Bytes, BytesMut};

use crate::random::random_hex;

/// A file part of a multipart call.
#[derive(Debug, Clone)]
pub struct FilePart {
    pub name: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Bytes,
}

/// A body and the content type that names its boundary.
pub struct Multipart {
    pub content_type: String,
    pub body: Bytes,
}

pub fn encode(params: &[(&str, &str)], files: &[FilePart]) -> Multipart {
    let boundary = format!("iop-callback-{}", random_hex::<16>());
    let size = params
        .iter()
        .map(|(k, v)| k.len() + v.len() + 100)
        .sum::<usize>()
        + files.iter().map(|f| f.bytes.len() + 200).sum::<usize>();
    let mut body = BytesMut::with_capacity(size);
    for (name, value) in params {
        start_part(&mut body, &boundary, name, None, None);
        body.put_slice(value.as_bytes());
        body.put_slice(b"\r\n");
    }
    for file in files {
        let file_name = file.file_name.as_deref().unwrap_or(&file.name);
        start_part(
            &mut body,
            &boundary,
            &file.name,
            Some(file_name),
            file.content_type.as_deref(),
        );
        body.put_slice(&file.bytes);
        body.put_slice(b"\r\n");
    }
    body.put_slice(format!("--{boundary}--\r\n").as_bytes());
    Multipart {
        content_type: format!("multipart/form-data; boundary={boundary}"),
        body: body.freeze(),
    }
}

fn start_part(
    body: &mut BytesMut,
    boundary: &str,
    name: &str,
    file_name: Option<&str>,
    content_type: Option<&str>,
) {
    body.put_slice(format!("--{boundary}\r\n").as_bytes());
    body.put_slice(b"Content-Disposition: form-data; name=\"");
    body.put_slice(quoted(name).as_bytes());
    body.put_slice(b"\"");
    if let Some(file_name) = file_name {
        body.put_slice(b"; filename=\"");
        body.put_slice(quoted(file_name).as_bytes());
        body.put_slice(b"\"");
    }
    body.put_slice(b"\r\n");
    // A type that could end the header line is not one; the part goes without it.
    if let Some(content_type) = content_type.filter(|t| !t.contains(['\r', '\n'])) {
        body.put_slice(b"Content-Type: ");
        body.put_slice(content_type.as_bytes());
        body.put_slice(b"\r\n");
    }
    body.put_slice(b"\r\n");
}

/// A name inside a quoted header parameter: the quote and line breaks percent-encoded, as
/// browsers send them (HTML's form submission algorithm), so a name cannot end its header.
fn quoted(name: &str) -> String {
    name.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_framed_by_the_boundary_with_names_that_cannot_break_out() {
        let files = [FilePart {
            name: "image".into(),
            file_name: Some("a\"b\r\n.png".into()),
            content_type: Some("image/png".into()),
            bytes: Bytes::from_static(b"PNG bytes"),
        }];
        let encoded = encode(&[("app_key", "1"), ("sign", "AB")], &files);
        let boundary = encoded
            .content_type
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap();
        assert_eq!(boundary.len(), "iop-callback-".len() + 32);
        let expected = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"app_key\"\r\n\r\n1\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"sign\"\r\n\r\nAB\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"image\"; \
             filename=\"a%22b%0D%0A.png\"\r\nContent-Type: image/png\r\n\r\nPNG bytes\r\n\
             --{boundary}--\r\n"
        );
        assert_eq!(std::str::from_utf8(&encoded.body).unwrap(), expected);
    }
}
