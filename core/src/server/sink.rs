//! Where an accepted file's bytes go: a hidden part file in the receive folder, or a file the
//! app supplied.

use super::*;

/// A file supplied by the handler, being written.
pub(super) struct AppFile {
    pub(super) file: Option<File>,
    pub(super) handler: Arc<dyn ReceiveHandler>,
    pub(super) session_id: String,
    pub(super) file_id: String,
    pub(super) complete: bool,
}

impl AppFile {
    pub(super) fn new(mut file: File, handler: Arc<dyn ReceiveHandler>, session_id: String, file_id: String) -> Result<AppFile> {
        // Made before anything can fail, so that its drop tells the handler about a failure too.
        let mut app = AppFile { file: None, handler, session_id, file_id, complete: false };
        // A document opened without truncation ("w" on some Android providers) may hold old bytes.
        let regular = file.metadata().map(|m| m.is_file()).unwrap_or(false);
        if regular {
            file.set_len(0).and_then(|_| file.seek(SeekFrom::Start(0))).map_err(|e| Error::io("cannot reset the supplied file", e))?;
        }
        app.file = Some(file);
        Ok(app)
    }

    pub(super) fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("open until finished")
    }

    pub(super) fn finish(mut self, modified: Option<std::time::SystemTime>) {
        let file = self.file.take().expect("open until finished");
        if let Some(m) = modified {
            // Not every document provider keeps times; that is no failure.
            let _ = file.set_times(std::fs::FileTimes::new().set_modified(m));
        }
        drop(file);
        self.complete = true;
    }
}

impl Drop for AppFile {
    fn drop(&mut self) {
        self.file.take();
        self.handler.destination_closed(&self.session_id, &self.file_id, self.complete);
    }
}

pub(super) enum Sink {
    Part(PartFile),
    App(AppFile),
}

impl Sink {
    pub(super) fn file(&mut self) -> &mut File {
        match self {
            Sink::Part(p) => p.file(),
            Sink::App(a) => a.file(),
        }
    }

    /// Keeps a resumable part file when it is dropped (see [`PartFile::keep`]).
    pub(super) fn keep(&mut self, prefix: Option<(u64, String)>) -> bool {
        match self {
            Sink::Part(p) => p.keep(prefix),
            Sink::App(_) => false,
        }
    }

    pub(super) fn commit(
        self,
        modified: Option<std::time::SystemTime>,
        accessed: Option<std::time::SystemTime>,
    ) -> Result<Option<PathBuf>> {
        match self {
            Sink::Part(p) => p.commit(modified, accessed).map(Some),
            Sink::App(a) => {
                a.finish(modified);
                Ok(None)
            }
        }
    }
}
