//! Capture files read natively ([`super::native`], no libpcap): whole
//! inputs one after the other ([`Files`]: pcap and pcapng files, gzip
//! files, standard input, named pipes), or one chunk of a pcap or pcapng
//! file ([`ChunkSource`]: a byte range of the file).
//!
//! A file is read with `read` into one buffer ([`super::window`]); each
//! frame is handed on as a slice of that buffer. Gzip files and streams
//! are decompressed on the reading thread into the same kind of buffer.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::frame::{Event, Frame, FrameSource};
use super::native::{ReadError, Reader, link_name};
use super::source::{Input, SourceError};
use super::window::Window;

/// An open capture, read natively.
pub struct Opened {
    reader: Reader,
    label: String,
}

impl Opened {
    /// The next frame, `None` at the end of the input or on a read error.
    #[inline]
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        self.reader.next_frame().ok().flatten()
    }

    /// The warning waiting (an interface whose frames are skipped), naming
    /// the input.
    #[inline]
    fn warning(&mut self) -> Option<String> {
        if !self.reader.has_warnings() {
            return None;
        }
        self.take_warning()
    }

    #[cold]
    fn take_warning(&mut self) -> Option<String> {
        let w = self.reader.next_warning()?;
        Some(format!("{}: {w}", self.label))
    }
}

/// Opens one input: a file read into a buffer, a gzip file or a stream
/// (standard input, named pipe; gzip recognised by content) decompressed
/// into one.
pub fn open(input: &Input) -> Result<Opened, SourceError> {
    let label = input.label();
    let (window, decompressing) = match input {
        Input::File(p) => {
            let f = File::open(p).map_err(|e| SourceError::Open(label.clone(), e))?;
            if f.metadata().is_ok_and(|m| m.is_file() && m.len() == 0) {
                return Err(SourceError::NotCapture(label, "empty file".into()));
            }
            let w = Window::read_file(f, 0).map_err(|e| SourceError::Open(label.clone(), e))?;
            (w, false)
        }
        Input::Gzip(p) => {
            let f = File::open(p).map_err(|e| SourceError::Open(label.clone(), e))?;
            (gunzip(Box::new(f)), true)
        }
        Input::Stdin | Input::Pipe(_) => {
            let stream: Box<dyn Read + Send> = match input {
                Input::Pipe(p) => {
                    Box::new(File::open(p).map_err(|e| SourceError::Open(label.clone(), e))?)
                }
                _ => Box::new(io::stdin()),
            };
            sniff_gzip(stream).map_err(|e| SourceError::Open(label.clone(), e))?
        }
    };
    let reader = Reader::open(window, decompressing).map_err(|e| match e {
        ReadError::NotCapture(m) | ReadError::Corrupt(m) => {
            SourceError::NotCapture(label.clone(), m)
        }
        e => SourceError::NotCapture(label.clone(), e.to_string()),
    })?;
    if let Some(dlt) = reader.unsupported_classic_link() {
        return Err(SourceError::LinkType(label, dlt as i32, link_name(dlt)));
    }
    Ok(Opened { reader, label })
}

/// Opens a pcap or pcapng file at the record at offset `start` (a chunk's
/// first, see [`super::layout`]), after reading the blocks that describe
/// the capture (pcapng interfaces) from the file's head.
pub fn open_chunk(path: &Path, start: u64) -> Result<Opened, SourceError> {
    let label = path.display().to_string();
    let f = File::open(path).map_err(|e| SourceError::Open(label.clone(), e))?;
    let w = Window::read_file(f, 0).map_err(|e| SourceError::Open(label.clone(), e))?;
    let not = |e: ReadError| SourceError::NotCapture(label.clone(), e.to_string());
    let mut reader = Reader::open(w, false).map_err(not)?;
    if let Some(dlt) = reader.unsupported_classic_link() {
        return Err(SourceError::LinkType(label, dlt as i32, link_name(dlt)));
    }
    reader.read_head().map_err(not)?;
    reader.jump(start);
    Ok(Opened { reader, label })
}

/// A gzip stream decompressed into a buffer.
fn gunzip(r: Box<dyn Read + Send>) -> Window {
    Window::stream(Box::new(flate2::read::MultiGzDecoder::new(
        io::BufReader::with_capacity(1 << 16, r),
    )))
}

/// A stream read once (standard input, a named pipe), decompressed when
/// its first bytes are gzip's.
fn sniff_gzip(mut stream: Box<dyn Read + Send>) -> io::Result<(Window, bool)> {
    let mut head = Vec::with_capacity(2);
    (&mut stream).take(2).read_to_end(&mut head)?;
    let gzip = head == [0x1f, 0x8b];
    let chained = Box::new(io::Cursor::new(head).chain(stream));
    Ok(if gzip {
        (gunzip(chained), true)
    } else {
        (Window::stream(chained), false)
    })
}

/// The input being read.
struct Current {
    opened: Opened,
    /// Its end was reached.
    ended: bool,
}

/// Every input in order, one stream of frames: an input that cannot be
/// opened, or ends with a read error, is [`Event::Failed`] (the message
/// names it) and reading goes on with the next. An interface whose frames
/// are skipped is one [`Event::Warning`].
pub struct Files {
    inputs: std::vec::IntoIter<Input>,
    current: Option<Current>,
}

impl Files {
    /// Reads `inputs` in order.
    pub fn new(inputs: Vec<Input>) -> Self {
        Files {
            inputs: inputs.into_iter(),
            current: None,
        }
    }

    #[cold]
    fn open_next(&mut self) -> Event<'_> {
        self.current = None;
        let Some(input) = self.inputs.next() else {
            return Event::End;
        };
        match open(&input) {
            Ok(opened) => {
                self.current = Some(Current {
                    opened,
                    ended: false,
                });
                Event::Opened(input.label())
            }
            Err(e) => Event::Failed(e.to_string()),
        }
    }
}

impl FrameSource for Files {
    #[inline]
    fn next(&mut self) -> Event<'_> {
        if self.current.as_ref().is_none_or(|c| c.ended) {
            return self.open_next();
        }
        let Some(cur) = self.current.as_mut() else {
            return Event::End;
        };
        if let Some(w) = cur.opened.warning() {
            return Event::Warning(w);
        }
        match cur.opened.reader.advance(u64::MAX) {
            Ok(true) => Event::Frame(cur.opened.reader.current()),
            Ok(false) => {
                cur.ended = true;
                match cur.opened.warning() {
                    Some(w) => {
                        // The end comes at the next call.
                        cur.ended = false;
                        Event::Warning(w)
                    }
                    // Every packet was on a skipped interface: nothing of
                    // the file could be analysed (as a classic pcap of a
                    // link type not decoded).
                    None if cur.opened.reader.packets() > 0
                        && cur.opened.reader.skipped() == cur.opened.reader.packets() =>
                    {
                        Event::Failed(
                            SourceError::NothingDecoded(
                                cur.opened.label.clone(),
                                cur.opened.reader.packets(),
                            )
                            .to_string(),
                        )
                    }
                    None => Event::Closed,
                }
            }
            Err(e) => {
                cur.ended = true;
                let o = &cur.opened;
                Event::Failed(
                    SourceError::Truncated(o.label.clone(), o.reader.packets(), e.to_string())
                        .to_string(),
                )
            }
        }
    }
}

/// One chunk of a file: the records starting before the chunk's end (or
/// the rest of the file, when the chunks after this one turn out to be
/// void: a record reaches over the end, or a pcapng section or interface
/// is described within the chunk, which later chunks' heads lack).
pub struct ChunkSource {
    opened: Opened,
    /// Offset where the chunk ends (`u64::MAX`: reading on to the file's end).
    end: u64,
    /// The chunk's planned end.
    planned_end: u64,
    /// The later chunks of the file are void: this one reads on to the end.
    pub voids_rest: bool,
    /// The file's end (or a read error) was reached.
    pub at_eof: bool,
    /// The read error that ended the chunk early.
    pub error: Option<String>,
    /// Warnings met (interfaces whose frames are skipped), naming the file.
    pub warnings: Vec<String>,
}

impl ChunkSource {
    /// Opens the chunk from `start` to `end` of `path`.
    pub fn open(path: &Path, start: u64, end: u64) -> Result<Self, SourceError> {
        Ok(ChunkSource {
            opened: open_chunk(path, start)?,
            end,
            planned_end: end,
            voids_rest: false,
            at_eof: false,
            error: None,
            warnings: Vec::new(),
        })
    }

    /// A pcapng section or interface was described within the chunk: the
    /// later chunks of the file are void.
    pub fn later_chunks_void(&self) -> bool {
        self.opened.reader.redescribed()
    }

    /// Records read (frames skipped included).
    pub fn packets(&self) -> u64 {
        self.opened.reader.packets()
    }

    /// Of them: skipped (interfaces whose link type is not decoded).
    pub fn skipped(&self) -> u64 {
        self.opened.reader.skipped()
    }

    /// The time of the chunk's last record read (`None` before the first).
    pub fn last_ts(&self) -> Option<i64> {
        (self.packets() > 0).then(|| self.opened.reader.current().ts_us)
    }

    /// The file after the chunk's end, unless its end was reached.
    pub fn into_rest(self) -> Option<Opened> {
        (!self.at_eof).then_some(self.opened)
    }

    #[cold]
    fn at_end(&mut self) -> bool {
        let at = self.opened.reader.offset();
        if self.end != u64::MAX && (at > self.end || self.opened.reader.redescribed()) {
            // The next chunk's start is not a record's, or interfaces
            // changed: read the rest of the file here.
            self.voids_rest = true;
            self.end = u64::MAX;
            return false;
        }
        self.at_eof = self.end == u64::MAX || at < self.planned_end;
        true
    }
}

impl FrameSource for ChunkSource {
    #[inline]
    fn next(&mut self) -> Event<'_> {
        while let Some(w) = self.opened.warning() {
            self.warnings.push(w);
        }
        loop {
            // Borrow the reader only for the frame returned.
            match self.opened.reader.advance(self.end) {
                Ok(true) => break,
                Ok(false) => {
                    if self.at_end() {
                        while let Some(w) = self.opened.warning() {
                            self.warnings.push(w);
                        }
                        return Event::End;
                    }
                }
                Err(e) => {
                    self.error = Some(e.to_string());
                    self.at_eof = true;
                    return Event::End;
                }
            }
        }
        Event::Frame(self.opened.reader.current())
    }
}
