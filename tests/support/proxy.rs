//! An HTTP proxy on a free loopback port, as an operator's egress proxy is
//! (Smokescreen, Squid): `CONNECT host:port` opens a tunnel, and a request
//! in absolute form (`POST http://host:port/path`, what a client sends a
//! proxy for plain HTTP) is forwarded in origin form. It records every
//! target it was asked for, so a test can tell what went through it.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A running proxy; stops when dropped.
pub struct Proxy {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    asked: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Starts a proxy.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, log.clone()));
            }
        });
        Self { url, asked, task }
    }

    /// Every `host:port` asked for so far, in order.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// One client connection: its first request decides tunnel or forward.
async fn serve(client: TcpStream, asked: Arc<Mutex<Vec<String>>>) {
    let mut client = BufReader::new(client);
    let mut line = String::new();
    if client.read_line(&mut line).await.unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let (method, target, version) = (method.to_owned(), target.to_owned(), version.to_owned());
    // The rest of the head, kept to forward.
    let mut head = Vec::new();
    loop {
        let mut h = String::new();
        if client.read_line(&mut h).await.unwrap_or(0) == 0 {
            return;
        }
        if h == "\r\n" {
            // One request a forwarded connection: the next may be for
            // another host, so neither side keeps it.
            head.push("connection: close\r\n\r\n".to_owned());
            break;
        }
        let name = h.to_ascii_lowercase();
        if !name.starts_with("proxy-") && !name.starts_with("connection:") {
            head.push(h);
        }
    }
    let (authority, path) = match method.as_str() {
        "CONNECT" => (target.clone(), None),
        _ => match target.strip_prefix("http://") {
            Some(rest) => {
                let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
                (authority.to_owned(), Some(format!("/{path}")))
            }
            None => return,
        },
    };
    asked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(authority.clone());
    let Ok(mut upstream) = TcpStream::connect(&authority).await else {
        let _ = client.get_mut().write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n").await;
        return;
    };
    match path {
        None => {
            if client.get_mut().write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await.is_err() {
                return;
            }
        }
        Some(path) => {
            let mut request = format!("{method} {path} {version}\r\n").into_bytes();
            for h in &head {
                request.extend_from_slice(h.as_bytes());
            }
            if upstream.write_all(&request).await.is_err() {
                return;
            }
        }
    }
    // Whatever the reader buffered past the head goes first.
    let buffered = client.buffer().to_vec();
    if !buffered.is_empty() && upstream.write_all(&buffered).await.is_err() {
        return;
    }
    let mut client = client.into_inner();
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}
