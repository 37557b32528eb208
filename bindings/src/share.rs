//! Share via link and the receive page, for the apps: start and stop a share of paths, answer
//! the browsers that ask, and the links to show as text and as a QR code (the app draws it).
//! Uploads from the receive page arrive as ordinary requests (`NodeListener.onRequest`).

use crate::dispatch::{logged, Coalesce, Dispatcher};
use crate::{FerryError, FerryNode, ListenerError, SendItem};
use ferry_core::share::{self, ShareOptions};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A browser (by its address) that asks to see the share. Answer with
/// `FerryNode.answerBrowser(request.id, ...)`; unanswered requests are declined after two minutes.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct BrowserRequest {
    pub id: String,
    /// The browser's IP address.
    pub address: String,
    /// The browser's User-Agent (peer text: pass it through `displaySafe` before showing it).
    pub user_agent: String,
}

/// What happens in a share.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum ShareUpdate {
    BrowserApproved {
        address: String,
    },
    BrowserDeclined {
        address: String,
    },
    /// A download started at `offset` (a resumed one starts later); `size` is what this download
    /// sends (0 for a folder's zip, whose size is known only at its end).
    DownloadStarted {
        address: String,
        file_id: String,
        name: String,
        offset: u64,
        size: u64,
    },
    DownloadProgress {
        address: String,
        file_id: String,
        sent: u64,
        size: u64,
    },
    /// A download ended; `complete` when everything asked for was sent.
    DownloadFinished {
        address: String,
        file_id: String,
        sent: u64,
        complete: bool,
    },
    /// A wrong PIN; `locked_secs` is set when PIN checks are locked for a while.
    PinFailed {
        address: String,
        locked_secs: Option<u64>,
    },
}

/// An open share: what it offers and where browsers open it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ShareInfo {
    /// `http://ADDRESS:PORT/` for each address of this device (show one as a QR code).
    pub links: Vec<String>,
    /// The names offered (a folder's files as `folder/sub/name`).
    pub files: Vec<String>,
    /// The folders, each also offered as `NAME.zip`.
    pub folders: Vec<String>,
    pub total_bytes: u64,
}

/// Events of a share, implemented by the app; called one at a time, in order, on a thread of
/// their own.
#[uniffi::export(with_foreign)]
pub trait ShareListener: Send + Sync {
    fn on_browser(&self, request: BrowserRequest) -> Result<(), ListenerError>;
    fn on_share(&self, update: ShareUpdate) -> Result<(), ListenerError>;
}

enum ShareMsg {
    Browser(BrowserRequest),
    Update(ShareUpdate),
}

impl Coalesce for ShareMsg {
    fn replaces(&self, older: &Self) -> bool {
        matches!(
            (self, older),
            (
                ShareMsg::Update(ShareUpdate::DownloadProgress { address: a, file_id: f, .. }),
                ShareMsg::Update(ShareUpdate::DownloadProgress { address: oa, file_id: of, .. }),
            ) if a == oa && f == of
        )
    }
}

/// Browsers waiting for the app's answer, by request id (bounded by the core's limit on
/// waiting browsers; answered or timed-out ones are dropped on the next request).
pub(crate) type Waiting = Arc<Mutex<HashMap<String, share::BrowserReply>>>;

struct Bridge {
    events: Dispatcher<ShareMsg>,
    waiting: Waiting,
}

impl share::ShareListener for Bridge {
    fn on_browser(&self, request: share::BrowserRequest, reply: share::BrowserReply) {
        {
            let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            w.retain(|_, r| !r.is_closed());
            w.insert(request.id.clone(), reply);
        }
        let r = BrowserRequest { id: request.id, address: request.ip.to_string(), user_agent: request.user_agent };
        self.events.send(ShareMsg::Browser(r));
    }

    fn on_event(&self, event: share::ShareEvent) {
        use share::ShareEvent as E;
        let u = match event {
            E::BrowserApproved { ip } => ShareUpdate::BrowserApproved { address: ip.to_string() },
            E::BrowserDeclined { ip } => ShareUpdate::BrowserDeclined { address: ip.to_string() },
            E::DownloadStarted { ip, file_id, name, offset, size } => {
                ShareUpdate::DownloadStarted { address: ip.to_string(), file_id, name, offset, size }
            }
            E::DownloadProgress { ip, file_id, sent, size } => {
                ShareUpdate::DownloadProgress { address: ip.to_string(), file_id, sent, size }
            }
            E::DownloadFinished { ip, file_id, sent, complete } => {
                ShareUpdate::DownloadFinished { address: ip.to_string(), file_id, sent, complete }
            }
            E::PinFailed { ip, locked_for } => {
                ShareUpdate::PinFailed { address: ip.to_string(), locked_secs: locked_for.map(|d| d.as_secs()) }
            }
            _ => return,
        };
        self.events.send(ShareMsg::Update(u));
    }
}

/// The share of `items`: every descriptor is taken first, so that all are closed on any error.
fn share_list(items: Vec<SendItem>) -> Result<share::ShareList, FerryError> {
    let mut paths = Vec::new();
    let mut files = Vec::new();
    let mut bad = None;
    for item in items {
        match item {
            SendItem::Path { path } => paths.push(PathBuf::from(path)),
            SendItem::Fd { fd, name, mime_type, .. } => match crate::take_fd(fd) {
                Ok(fd) => files.push((std::fs::File::from(fd), name, mime_type)),
                Err(e) => {
                    bad.get_or_insert(e);
                }
            },
        }
    }
    if let Some(e) = bad {
        return Err(e.into());
    }
    let mut list = if paths.is_empty() { share::ShareList::default() } else { share::ShareList::collect(&paths)? };
    for (file, name, mime) in files {
        list.push_open_file(file, &name, mime)?;
    }
    if list.files.is_empty() && list.folders.is_empty() {
        return Err(FerryError::InvalidInput { message: "nothing to share".into() });
    }
    Ok(list)
}

#[uniffi::export]
impl FerryNode {
    /// Opens a share of `items` (files, folders and descriptors) for browsers and LocalSend
    /// apps on the network, closing any open one. Descriptors are taken (closed when the share
    /// ends or on an error) and must be regular files, read again for every download.
    /// `pin`: required from browsers. `approve_all`: let every browser in without
    /// `ShareListener.onBrowser`. Browsers open the share over plain HTTP when the node was
    /// started without encryption (with it they must click through a certificate warning).
    pub fn start_share(
        &self,
        items: Vec<SendItem>,
        pin: Option<String>,
        approve_all: bool,
        listener: Arc<dyn ShareListener>,
    ) -> Result<ShareInfo, FerryError> {
        let list = share_list(items)?;
        let events = Dispatcher::new("ferry-share-events", move |m| match m {
            ShareMsg::Browser(r) => logged("onBrowser", listener.on_browser(r)),
            ShareMsg::Update(u) => logged("onShare", listener.on_share(u)),
        });
        let bridge = Arc::new(Bridge { events, waiting: self.browsers.clone() });
        let info = ShareInfo {
            links: self.node.links(),
            files: list.files.iter().map(|f| f.name.clone()).collect(),
            folders: list.folders.iter().map(|f| f.name.clone()).collect(),
            total_bytes: list.total_size(),
        };
        self.node.open_share_list(list, ShareOptions { pin, auto_accept: approve_all }, bridge)?;
        Ok(info)
    }

    /// Answers `ShareListener.onBrowser`: let the browser in (it may download until the share
    /// stops) or not. Fails when the request is unknown or already over.
    pub fn answer_browser(&self, request_id: String, approve: bool) -> Result<(), FerryError> {
        let reply = self.browsers.lock().unwrap_or_else(|p| p.into_inner()).remove(&request_id);
        match reply {
            Some(r) if !r.is_closed() => {
                r.send(approve);
                Ok(())
            }
            _ => Err(FerryError::InvalidInput { message: format!("no browser is waiting with the request id {request_id}") }),
        }
    }

    /// Closes the share: running downloads stop, browsers must ask again next time. Returns
    /// whether one was open.
    pub fn stop_share(&self) -> bool {
        self.browsers.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.node.close_share()
    }

    /// Serves (or stops serving) the receive page: browsers open a link and upload files, each
    /// upload asked about through `NodeListener.onRequest` (alias "Browser", unverified).
    pub fn set_receive_page(&self, on: bool) -> Result<(), FerryError> {
        Ok(self.node.set_receive_page(on)?)
    }

    /// The links browsers open to reach this device's pages, one per address.
    pub fn links(&self) -> Vec<String> {
        self.node.links()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeviceKind, NodeConfig, ReceiveMode};
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    #[derive(Default)]
    struct Recorder(Mutex<Vec<BrowserRequest>>, Mutex<Vec<ShareUpdate>>);

    impl ShareListener for Recorder {
        fn on_browser(&self, request: BrowserRequest) -> Result<(), ListenerError> {
            self.0.lock().unwrap().push(request);
            Ok(())
        }
        fn on_share(&self, update: ShareUpdate) -> Result<(), ListenerError> {
            self.1.lock().unwrap().push(update);
            Ok(())
        }
    }

    fn until(what: &str, f: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !f() {
            assert!(Instant::now() < deadline, "not within 20 s: {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    struct Quiet;
    impl crate::NodeListener for Quiet {
        fn on_device_found(&self, _: crate::Device) -> Result<(), ListenerError> {
            Ok(())
        }
        fn on_device_updated(&self, _: crate::Device) -> Result<(), ListenerError> {
            Ok(())
        }
        fn on_device_lost(&self, _: crate::Device) -> Result<(), ListenerError> {
            Ok(())
        }
        fn on_request(&self, _: crate::IncomingRequest) -> Result<(), ListenerError> {
            Ok(())
        }
        fn on_text(&self, _: crate::Sender, _: String) -> Result<(), ListenerError> {
            Ok(())
        }
        fn on_receive(&self, _: crate::ReceiveUpdate) -> Result<(), ListenerError> {
            Ok(())
        }
    }

    /// A folder removed when the test ends.
    struct Dir(PathBuf);
    impl Dir {
        fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_share_asks_the_app_about_each_browser() {
        let root = std::env::temp_dir().join(format!("ferry-ffi-share-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let dir = Dir(root);
        std::fs::write(dir.path().join("a.txt"), b"shared").unwrap();
        let config = NodeConfig {
            alias: "Phone".into(),
            device_kind: DeviceKind::Mobile,
            device_model: "Test".into(),
            port: 0,
            config_dir: dir.path().join("cfg").to_string_lossy().into_owned(),
            receive_dir: dir.path().join("in").to_string_lossy().into_owned(),
            pin: None,
            encryption: false,
            discovery: false,
            interfaces_include: vec![],
            interfaces_exclude: vec![],
            receive_mode: ReceiveMode::Ask,
            bind_address: Some("127.0.0.1".into()),
            skip_existing: false,
        };
        let node = crate::runtime().block_on(FerryNode::start(config, Arc::new(Quiet))).unwrap();
        let rec = Arc::new(Recorder::default());
        std::fs::write(dir.path().join("doc"), b"from a descriptor").unwrap();
        let fd = std::os::fd::IntoRawFd::into_raw_fd(std::fs::File::open(dir.path().join("doc")).unwrap());
        let items = vec![
            SendItem::Path { path: dir.path().join("a.txt").to_string_lossy().into_owned() },
            SendItem::Fd { fd, name: "Report.pdf".into(), size: None, mime_type: None },
        ];
        let info = node.start_share(items, None, false, rec.clone()).unwrap();
        assert_eq!(info.files, ["a.txt", "Report.pdf"]);
        assert_eq!(info.total_bytes, 6 + 17);
        assert_eq!(info.links, [format!("http://127.0.0.1:{}/", node.port())]);
        let port = node.port();
        let browser = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(
                b"POST /api/localsend/v2/prepare-download HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
            let mut all = String::new();
            s.read_to_string(&mut all).unwrap();
            all
        });
        until("the app is asked", || rec.0.lock().unwrap().len() == 1);
        let req = rec.0.lock().unwrap()[0].clone();
        assert_eq!(req.address, "127.0.0.1");
        assert!(node.answer_browser("unknown".into(), true).is_err());
        node.answer_browser(req.id.clone(), true).unwrap();
        let answer = browser.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("\"fileName\":\"a.txt\""), "{answer}");
        // The descriptor's bytes download like a file's.
        let after = |text: &str, key: &str| -> String {
            let at = text.find(key).unwrap_or_else(|| panic!("{key} in {text}")) + key.len();
            text[at..].split('"').next().unwrap().to_string()
        };
        let session = after(&answer, "\"sessionId\":\"");
        let id = after(&answer[answer.find("\"fileName\":\"Report.pdf\"").unwrap()..], "\"id\":\"");
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let req = format!(
            "GET /api/localsend/v2/download?sessionId={session}&fileId={id} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).unwrap();
        assert!(got.starts_with("HTTP/1.1 200") && got.ends_with("\r\n\r\nfrom a descriptor"), "{got}");
        assert!(got.contains("filename=\"Report.pdf\""), "{got}");
        until("approved", || rec.1.lock().unwrap().contains(&ShareUpdate::BrowserApproved { address: "127.0.0.1".into() }));
        assert!(node.stop_share());
        assert!(!node.stop_share());
        node.stop();
    }
}
