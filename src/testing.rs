//! Unit-test helpers: the frames of the sample captures (`samples/`, made
//! by real tools), read through the library's own file reader.

use std::path::Path;

use crate::input::frame::{Event, FrameSource};
use crate::input::offline::Files;
use crate::input::source::Input;
use crate::wire::decode::LinkType;

/// A frame with its bytes owned.
#[derive(Debug, Clone)]
pub struct Owned {
    pub link: LinkType,
    pub ts_us: i64,
    pub data: Vec<u8>,
    pub wire_len: u32,
}

/// Every frame of `samples/<name>`.
pub fn frames(name: &str) -> Vec<Owned> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name);
    let mut files = Files::new(vec![Input::File(path)]);
    let mut out = Vec::new();
    loop {
        match files.next() {
            Event::Frame(f) => out.push(Owned {
                link: f.link,
                ts_us: f.ts_us,
                data: f.data.to_vec(),
                wire_len: f.wire_len,
            }),
            Event::Failed(e) => panic!("{name}: {e}"),
            Event::End => return out,
            _ => {}
        }
    }
}
