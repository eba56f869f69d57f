//! Capture files read through libpcap: whole inputs one after the other
//! ([`Files`]), or one chunk of a pcap or pcapng file ([`ChunkSource`]).

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;

use pcap::{Capture, Offline};

use super::cookie;
use super::frame::{Event, Frame, FrameSource, timeval_us};
use super::layout::{Layout, Walk};
use super::source::{Input, SourceError};
use super::stream::{FeedError, from_fd, pipe_from, stream_pipe};
use crate::wire::decode::LinkType;

/// An open capture and its link type.
pub struct Opened {
    /// The libpcap handle.
    pub cap: Capture<Offline>,
    /// Decoded link type.
    pub link: LinkType,
    /// Decompression error of a gzip (or stdin) input, once it happened.
    feed_error: Option<FeedError>,
}

impl Opened {
    /// The next frame, `None` at the end of the file or on a read error.
    #[inline]
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        let link = self.link;
        self.cap.next_packet().ok().map(|p| Frame {
            link,
            ts_us: timeval_us(&p.header.ts),
            data: p.data,
            wire_len: p.header.len,
        })
    }
}

/// Opens one input through libpcap.
pub fn open(input: &Input) -> Result<Opened, SourceError> {
    let label = input.label();
    let mut feed_error = None;
    let cap = match input {
        Input::File(p) => {
            // Check readability first for a clearer message than libpcap's.
            let f = File::open(p).map_err(|e| SourceError::Open(label.clone(), e))?;
            if f.metadata().is_ok_and(|m| m.is_file() && m.len() == 0) {
                return Err(SourceError::NotCapture(label, "empty file".into()));
            }
            Capture::from_file(p)
                .map_err(|e| SourceError::NotCapture(label.clone(), e.to_string()))?
        }
        Input::Gzip(p) => {
            let f = File::open(p).map_err(|e| SourceError::Open(label.clone(), e))?;
            let (r, err) = pipe_from(Box::new(flate2::read::MultiGzDecoder::new(
                io::BufReader::new(f),
            )))
            .map_err(|e| SourceError::Open(label.clone(), e))?;
            feed_error = Some(err);
            from_fd(r, &label)?
        }
        Input::Stdin | Input::Pipe(_) => {
            let stream = match input {
                Input::Pipe(p) => File::open(p),
                _ => io::stdin().as_fd().try_clone_to_owned().map(File::from),
            }
            .map_err(|e| SourceError::Open(label.clone(), e))?;
            let (r, err) = stream_pipe(stream).map_err(|e| SourceError::Open(label.clone(), e))?;
            feed_error = Some(err);
            from_fd(r, &label)?
        }
    };
    let link = link_of(&cap, &label)?;
    Ok(Opened {
        cap,
        link,
        feed_error,
    })
}

fn link_of(cap: &Capture<Offline>, label: &str) -> Result<LinkType, SourceError> {
    let dlt = cap.get_datalink();
    LinkType::from_dlt(dlt.0).ok_or_else(|| {
        let name = dlt.get_name().unwrap_or_else(|_| "unknown".into());
        SourceError::LinkType(label.to_string(), dlt.0, name)
    })
}

/// Opens the chunk of a pcap or pcapng file of `layout` from the record at
/// offset `start` to `end` (see [`super::layout`]); the [`Walk`] tells
/// when the chunk's packets are read.
pub fn open_at(
    path: &Path,
    layout: &Arc<Layout>,
    start: u64,
    end: u64,
) -> Result<(Opened, Arc<Walk>), SourceError> {
    let label = path.display().to_string();
    let (cap, walk) = cookie::open_chunk(path, layout, start, end)
        .map_err(|e| SourceError::NotCapture(label.clone(), e.to_string()))?;
    let link = link_of(&cap, &label)?;
    let opened = Opened {
        cap,
        link,
        feed_error: None,
    };
    Ok((opened, walk))
}

/// The input being read.
struct Current {
    opened: Opened,
    label: String,
    /// Packets read so far (for the message of a read error).
    packets: u64,
    /// Its end was reached.
    ended: bool,
}

/// Every input in order, one stream of frames: an input that cannot be
/// opened, or ends with a read error, is [`Event::Failed`] (the message
/// names it) and reading goes on with the next.
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
}

impl FrameSource for Files {
    #[inline]
    fn next(&mut self) -> Event<'_> {
        if self.current.as_ref().is_none_or(|c| c.ended) {
            self.current = None;
            let Some(input) = self.inputs.next() else {
                return Event::End;
            };
            let label = input.label();
            return match open(&input) {
                Ok(opened) => {
                    self.current = Some(Current {
                        opened,
                        label: label.clone(),
                        packets: 0,
                        ended: false,
                    });
                    Event::Opened(label)
                }
                Err(e) => Event::Failed(e.to_string()),
            };
        }
        let Some(cur) = self.current.as_mut() else {
            return Event::End;
        };
        let link = cur.opened.link;
        match cur.opened.cap.next_packet() {
            Ok(p) => {
                cur.packets += 1;
                Event::Frame(Frame {
                    link,
                    ts_us: timeval_us(&p.header.ts),
                    data: p.data,
                    wire_len: p.header.len,
                })
            }
            Err(e) => {
                cur.ended = true;
                // A decompression error explains the end better than libpcap.
                let fed = cur
                    .opened
                    .feed_error
                    .as_ref()
                    .and_then(|f| f.lock().ok()?.take())
                    .map(|f| format!("decompression failed: {f}"));
                let (label, n) = (cur.label.clone(), cur.packets);
                match (e, fed) {
                    (_, Some(f)) => Event::Failed(SourceError::Truncated(label, n, f).to_string()),
                    (pcap::Error::NoMorePackets, None) => Event::Closed,
                    (e, None) => {
                        Event::Failed(SourceError::Truncated(label, n, e.to_string()).to_string())
                    }
                }
            }
        }
    }
}

/// One chunk of a file: its records up to the chunk's end, as its
/// stream's [`Walk`] counts them (or the rest of the file, when the chunks
/// after this one turn out to be void).
pub struct ChunkSource {
    opened: Opened,
    walk: Arc<Walk>,
    /// Records read.
    pub packets: u64,
    limit: Option<u64>,
    /// The later chunks of the file are void: this one reads on to the end.
    pub voids_rest: bool,
    /// The file's end (or a read error) was reached.
    pub at_eof: bool,
    /// The read error that ended the chunk early.
    pub error: Option<String>,
}

impl ChunkSource {
    /// Opens the chunk from `start` to `end` of `path`.
    pub fn open(
        path: &Path,
        layout: &Arc<Layout>,
        start: u64,
        end: u64,
    ) -> Result<Self, SourceError> {
        let (opened, walk) = open_at(path, layout, start, end)?;
        Ok(ChunkSource {
            opened,
            walk,
            packets: 0,
            limit: None,
            voids_rest: false,
            at_eof: false,
            error: None,
        })
    }

    /// The stream's walk found the next chunk's start was not a record's,
    /// or interfaces changed: the later chunks of the file are void.
    pub fn later_chunks_void(&self) -> bool {
        self.walk.later_chunks_void()
    }

    /// The file after the chunk's end, unless its end was reached.
    pub fn into_rest(self) -> Option<Opened> {
        (!self.at_eof).then_some(self.opened)
    }
}

impl FrameSource for ChunkSource {
    #[inline]
    fn next(&mut self) -> Event<'_> {
        if self.limit.is_none() {
            self.limit = self.walk.packets_before_end();
            if self.limit.is_some() && self.walk.later_chunks_void() {
                // The next chunk's start is not a record's, or interfaces
                // changed: read the rest of the file here.
                self.voids_rest = true;
                self.limit = Some(u64::MAX);
            }
        }
        if self.limit.is_some_and(|l| self.packets >= l) {
            return Event::End;
        }
        let link = self.opened.link;
        match self.opened.cap.next_packet() {
            Ok(p) => {
                self.packets += 1;
                Event::Frame(Frame {
                    link,
                    ts_us: timeval_us(&p.header.ts),
                    data: p.data,
                    wire_len: p.header.len,
                })
            }
            Err(pcap::Error::NoMorePackets) => {
                self.at_eof = true;
                Event::End
            }
            Err(e) => {
                self.error = Some(e.to_string());
                self.at_eof = true;
                Event::End
            }
        }
    }
}
