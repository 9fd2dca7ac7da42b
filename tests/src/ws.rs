//! Websocket clients for the live routes: a terminal client for `terminal/ws` and a minimal
//! RFB (VNC) client for `vnc/ws`, used by the scenarios and the bench.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{
        self, Message,
        client::IntoClientRequest as _,
        protocol::{CloseFrame, frame::coding::CloseCode},
    },
};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a read waits before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// `http://host/path?q` → a websocket to `ws://host/path?q`, with `Authorization: Bearer
/// <key>` when given and the subprotocol when given.
pub async fn connect(
    url: &str,
    key: Option<&str>,
    protocol: Option<&str>,
) -> Result<(Ws, tungstenite::http::Response<Option<Vec<u8>>>), tungstenite::Error> {
    let mut req = url.replacen("http", "ws", 1).into_client_request()?;
    if let Some(key) = key {
        req.headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
    }
    if let Some(p) = protocol {
        req.headers_mut()
            .insert("sec-websocket-protocol", p.parse().unwrap());
    }
    connect_async(req).await
}

/// The status and error code of a refused upgrade; panics if the upgrade was accepted.
pub async fn refused(url: &str, key: Option<&str>) -> (u16, String) {
    match connect(url, key, None).await {
        Err(tungstenite::Error::Http(res)) => {
            let body: Value = serde_json::from_slice(res.body().as_deref().unwrap_or_default())
                .unwrap_or(Value::Null);
            (
                res.status().as_u16(),
                body["error"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        }
        Err(e) => panic!("{url}: unexpected error {e}"),
        Ok(_) => panic!("{url}: the upgrade was accepted"),
    }
}

/// A frame the terminal client reports.
#[derive(Debug)]
pub enum Frame {
    Text(Value),
    Close(Option<CloseFrame>),
}

/// One terminal connection: output is collected as (lossy) text, control frames as JSON.
pub struct Term {
    pub ws: Ws,
    /// The session id from the first frame.
    pub id: String,
    pub cols: u64,
    pub rows: u64,
    /// Output not yet consumed by [`Term::expect`].
    pub out: String,
}

impl Term {
    /// Connect and read the `session` frame.
    pub async fn open(url: &str, key: Option<&str>) -> Term {
        let (ws, _) = connect(url, key, None)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let mut term = Term {
            ws,
            id: String::new(),
            cols: 0,
            rows: 0,
            out: String::new(),
        };
        match term.next_frame().await {
            Frame::Text(hello) if hello["type"] == "session" => {
                term.id = hello["id"].as_str().unwrap_or_default().to_owned();
                term.cols = hello["cols"].as_u64().unwrap_or_default();
                term.rows = hello["rows"].as_u64().unwrap_or_default();
            }
            other => panic!("expected the session frame, got {other:?}"),
        }
        term
    }

    /// Type `input`.
    pub async fn send(&mut self, input: &str) {
        self.ws
            .send(Message::binary(input.as_bytes().to_vec()))
            .await
            .expect("send input");
    }

    /// Send a JSON text frame.
    pub async fn send_json(&mut self, v: &Value) {
        self.ws
            .send(Message::text(v.to_string()))
            .await
            .expect("send control frame");
    }

    /// Read one message: binary output is appended to `out` (`None`); a text frame (as JSON)
    /// or a close frame is returned.
    pub async fn read_one(&mut self) -> Option<Frame> {
        let msg = tokio::time::timeout(WAIT, self.ws.next())
            .await
            .unwrap_or_else(|_| panic!("no frame within {WAIT:?}; output so far: {:?}", self.out))
            .unwrap_or_else(|| panic!("stream ended; output: {:?}", self.out));
        match msg {
            Ok(Message::Binary(b)) => {
                self.out.push_str(&String::from_utf8_lossy(&b));
                None
            }
            Ok(Message::Text(t)) => Some(Frame::Text(
                serde_json::from_str(t.as_str()).expect("JSON text frame"),
            )),
            Ok(Message::Close(c)) => Some(Frame::Close(c)),
            Ok(_) => None,
            Err(e) => panic!("websocket error: {e}; output: {:?}", self.out),
        }
    }

    /// The next text or close frame; binary output read on the way is appended to `out`.
    pub async fn next_frame(&mut self) -> Frame {
        loop {
            if let Some(frame) = self.read_one().await {
                return frame;
            }
        }
    }

    /// Read until the output contains `needle`; consume up to and including it. Text frames
    /// on the way are ignored; a close frame fails.
    pub async fn expect(&mut self, needle: &str) {
        loop {
            if let Some(at) = self.out.find(needle) {
                self.out.drain(..at + needle.len());
                return;
            }
            if let Some(Frame::Close(c)) = self.read_one().await {
                panic!("closed ({c:?}) before {needle:?}; output: {:?}", self.out);
            }
        }
    }

    /// Read until the exit frame; its code. Then the close frame must be 1000.
    pub async fn expect_exit(&mut self) -> i64 {
        let code = loop {
            match self.next_frame().await {
                Frame::Text(v) if v["type"] == "exit" => break v["code"].as_i64().unwrap(),
                Frame::Text(_) => {}
                Frame::Close(c) => panic!("closed ({c:?}) without an exit frame"),
            }
        };
        match self.next_frame().await {
            Frame::Close(Some(c)) => assert_eq!(c.code, CloseCode::Normal),
            other => panic!("expected close 1000 after exit, got {other:?}"),
        }
        code
    }

    /// Close with code 1000 ("done": the terminal's processes are killed).
    pub async fn close(mut self) {
        let _ = self
            .ws
            .close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }))
            .await;
        // Drain until the server's close arrives.
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

/// What the server said in its `ServerInit`.
#[derive(Debug, Clone)]
pub struct ServerInit {
    pub width: u16,
    pub height: u16,
    pub bits_per_pixel: u8,
    pub name: String,
}

/// A minimal RFB 3.8 client (security type None) reading from a websocket.
pub struct Rfb {
    ws: Ws,
    buf: VecDeque<u8>,
}

impl Rfb {
    pub fn new(ws: Ws) -> Rfb {
        Rfb {
            ws,
            buf: VecDeque::new(),
        }
    }

    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("RFB data in time")
                .expect("RFB stream open")
                .expect("RFB websocket ok");
            match msg {
                Message::Binary(b) => self.buf.extend(b.iter()),
                Message::Close(c) => panic!("RFB websocket closed: {c:?}"),
                _ => {}
            }
        }
        self.buf.drain(..n).collect()
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::binary(bytes.to_vec()))
            .await
            .expect("RFB write");
    }

    /// Version, security (None), ClientInit (shared), ServerInit.
    pub async fn handshake(&mut self) -> ServerInit {
        let version = self.read_exact(12).await;
        assert_eq!(&version, b"RFB 003.008\n", "server version");
        self.write(b"RFB 003.008\n").await;
        let count = self.read_exact(1).await[0] as usize;
        assert!(count > 0, "the server offered no security type");
        let types = self.read_exact(count).await;
        assert!(
            types.contains(&1),
            "security type None not offered: {types:?}"
        );
        self.write(&[1]).await;
        let result = self.read_exact(4).await;
        assert_eq!(result, [0, 0, 0, 0], "security result");
        self.write(&[1]).await; // ClientInit: shared
        let head = self.read_exact(24).await;
        let name_len = u32::from_be_bytes([head[20], head[21], head[22], head[23]]) as usize;
        let name = String::from_utf8_lossy(&self.read_exact(name_len).await).into_owned();
        ServerInit {
            width: u16::from_be_bytes([head[0], head[1]]),
            height: u16::from_be_bytes([head[2], head[3]]),
            bits_per_pixel: head[4],
            name,
        }
    }

    /// Ask for raw encoding only, then a full (non-incremental) update of the screen; the
    /// pixels of every rectangle received, concatenated.
    pub async fn full_frame(&mut self, init: &ServerInit) -> Vec<u8> {
        // SetEncodings: [2, pad, count=1, Raw=0]
        self.write(&[2, 0, 0, 1, 0, 0, 0, 0]).await;
        let (w, h) = (init.width.to_be_bytes(), init.height.to_be_bytes());
        self.write(&[3, 0, 0, 0, 0, 0, w[0], w[1], h[0], h[1]])
            .await;
        loop {
            let kind = self.read_exact(1).await[0];
            match kind {
                0 => break,
                // Bell: no payload.
                2 => {}
                // SetColourMapEntries / ServerCutText: skip their payloads.
                1 => {
                    let head = self.read_exact(5).await;
                    let n = u16::from_be_bytes([head[3], head[4]]) as usize;
                    self.read_exact(n * 6).await;
                }
                3 => {
                    let head = self.read_exact(7).await;
                    let n = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
                    self.read_exact(n).await;
                }
                other => panic!("unexpected RFB server message {other}"),
            }
        }
        let head = self.read_exact(3).await;
        let rects = u16::from_be_bytes([head[1], head[2]]);
        let bpp = usize::from(init.bits_per_pixel / 8);
        let mut pixels = Vec::new();
        for _ in 0..rects {
            let r = self.read_exact(12).await;
            let rw = usize::from(u16::from_be_bytes([r[4], r[5]]));
            let rh = usize::from(u16::from_be_bytes([r[6], r[7]]));
            let encoding = i32::from_be_bytes([r[8], r[9], r[10], r[11]]);
            assert_eq!(encoding, 0, "asked for raw encoding only");
            pixels.extend(self.read_exact(rw * rh * bpp).await);
        }
        pixels
    }
}

/// How many distinct pixel values (of `bpp` bytes) `pixels` holds, up to `cap`.
pub fn distinct_pixels(pixels: &[u8], bpp: usize, cap: usize) -> usize {
    let mut seen = std::collections::HashSet::new();
    for px in pixels.chunks_exact(bpp.max(1)) {
        seen.insert(px.to_vec());
        if seen.len() >= cap {
            break;
        }
    }
    seen.len()
}
