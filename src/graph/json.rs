//! The JSON document of a [`TaskGraph`] (`flow graph --format json`):
//! `{ root, nodes, bodies, edges }` with global node ids.
//!
//! [`write_json`] gives the text `serde_json`'s pretty printer gives for the
//! whole document, without the document ever being whole: its arrays are cut
//! into pieces of a few thousand elements, made on every core (47 MB for
//! 100,000 tasks) and written in order as they are done.

use std::io::{self, Write};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use serde::ser::SerializeMap;
use serde::Serialize;
use serde_json::json;

use super::annotate;
use super::export::{edges, kind_name, links, Link, Names};
use super::overlay::{NodeState, Overlay};
use super::*;

/// Nodes (or bodies, or nodes whose edges) in a piece of the document.
const PIECE: usize = 2048;

/// Threads making pieces besides the one that writes them, at most.
const MAX_HELPERS: usize = 3;

/// The document, with no run drawn over it.
#[cfg(feature = "internals")]
pub fn to_json(graph: &TaskGraph) -> serde_json::Value {
    to_json_with(graph, None)
}

/// The document, with each node's `state` (and `states`, its tasks by state) in `run`.
pub fn to_json_with(graph: &TaskGraph, run: Option<&Overlay>) -> serde_json::Value {
    serde_json::to_value(JsonGraph::new(graph, run)).unwrap_or_default()
}

/// [`to_json_with`], pretty-printed to `out`: the same text, made piece by
/// piece (a graph of 100,000 tasks made a 700 MiB tree of values for 47 MB of
/// text when it was built whole).
pub fn write_json(
    graph: &TaskGraph,
    run: Option<&Overlay>,
    out: impl Write,
) -> serde_json::Result<()> {
    JsonGraph::new(graph, run).write(out, PIECE)
}

/// The JSON document of a graph, element by element.
struct JsonGraph<'a> {
    graph: &'a TaskGraph,
    run: Option<&'a Overlay>,
    names: Names<'a>,
}

/// The whole document as one value (what [`to_json_with`] builds).
impl Serialize for JsonGraph<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let all = |n| 0..n;
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("root", &self.graph.root.0)?;
        map.serialize_entry("nodes", &Lazy(|| self.nodes(all(self.graph.nodes.len()))))?;
        map.serialize_entry("bodies", &Lazy(|| self.bodies(all(self.graph.bodies.len()))))?;
        let edges = || self.edges(all(self.graph.nodes.len())).chain(self.links());
        map.serialize_entry("edges", &Lazy(edges))?;
        map.end()
    }
}

/// The document's arrays, in order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Nodes,
    Bodies,
    Edges,
}

/// A run of elements of one of the arrays, made by one thread.
enum Piece {
    Nodes(Range<usize>),
    Bodies(Range<usize>),
    /// The edges into these nodes.
    Edges(Range<usize>),
    /// The links from constructs to bodies, which end the edges.
    Links,
}

impl Piece {
    fn section(&self) -> Section {
        match self {
            Piece::Nodes(_) => Section::Nodes,
            Piece::Bodies(_) => Section::Bodies,
            Piece::Edges(_) | Piece::Links => Section::Edges,
        }
    }
}

impl<'a> JsonGraph<'a> {
    fn new(graph: &'a TaskGraph, run: Option<&'a Overlay>) -> JsonGraph<'a> {
        JsonGraph {
            graph,
            run,
            names: Names::new(graph, run),
        }
    }

    fn nodes(&self, range: Range<usize>) -> impl Iterator<Item = JsonNode<'_>> + '_ {
        let nodes = self.graph.nodes[range.clone()].iter();
        nodes.zip(range).map(|(node, i)| JsonNode { doc: self, i, node })
    }

    fn bodies(&self, range: Range<usize>) -> impl Iterator<Item = serde_json::Value> + '_ {
        let bodies = self.graph.bodies[range.clone()].iter();
        bodies.zip(range).map(|(b, i)| {
            json!({
                "id": i,
                "title": self.names.body_title(BodyId(i as u32)),
                "nodes": b.node_ids().map(|n| n.0).collect::<Vec<_>>(),
                "inputs": b.inputs.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "captures": b.captures.iter().map(|c| c.name.to_string()).collect::<Vec<_>>(),
                "parent": b.parent.map(|p| p.0),
            })
        })
    }

    /// The edges into the nodes of `readers`, within bodies.
    fn edges(&self, readers: Range<usize>) -> impl Iterator<Item = JsonEdge> + '_ {
        edges(self.graph, &self.names.owners, readers)
            .map(|(from, to, kind)| JsonEdge::Within(from, to, kind.as_str()))
    }

    /// The links from constructs to their bodies, after every edge.
    fn links(&self) -> impl Iterator<Item = JsonEdge> {
        links(self.graph).into_iter().map(|(from, body, link)| {
            let kind = match link {
                Link::Body => "body",
                Link::Call => "call",
            };
            JsonEdge::Link(from, body.0, kind)
        })
    }

    /// The pieces of the document, in order; each array has at least one.
    fn pieces(&self, size: usize) -> Vec<Piece> {
        let cut = |n: usize| {
            let starts = (0..n.max(1)).step_by(size.max(1));
            starts.map(move |a| a..(a + size).min(n))
        };
        let (nodes, bodies) = (self.graph.nodes.len(), self.graph.bodies.len());
        let mut pieces: Vec<Piece> = cut(nodes).map(Piece::Nodes).collect();
        pieces.extend(cut(bodies).map(Piece::Bodies));
        pieces.extend(cut(nodes).map(Piece::Edges));
        pieces.push(Piece::Links);
        pieces
    }

    /// A piece's elements, each after `,` and its line's indentation.
    fn make(&self, piece: &Piece, buf: &mut Vec<u8>) -> serde_json::Result<()> {
        fn put(buf: &mut Vec<u8>, value: impl Serialize) -> serde_json::Result<()> {
            buf.extend_from_slice(b",\n    ");
            value.serialize(&mut serde_json::Serializer::with_formatter(buf, Indented::at(2)))
        }
        match piece {
            Piece::Nodes(range) => self.nodes(range.clone()).try_for_each(|n| put(buf, n)),
            Piece::Bodies(range) => self.bodies(range.clone()).try_for_each(|b| put(buf, b)),
            Piece::Edges(range) => self.edges(range.clone()).try_for_each(|e| put(buf, e)),
            Piece::Links => self.links().try_for_each(|e| put(buf, e)),
        }
    }

    /// Writes the document: the pieces made on this thread and, for a big
    /// graph, on the machine's other cores, written in order.
    fn write(&self, out: impl Write, size: usize) -> serde_json::Result<()> {
        let pieces = self.pieces(size);
        let mut doc = Document::start(out, self.graph.root.0)?;
        // A few helpers keep up with the one thread that writes.
        let helpers = match self.graph.nodes.len() {
            n if n <= size => 0,
            _ => std::thread::available_parallelism().map_or(1, |c| c.get() - 1).min(MAX_HELPERS),
        };
        let next = AtomicUsize::new(0);
        let take = || Some(next.fetch_add(1, Ordering::Relaxed)).filter(|&i| i < pieces.len());
        // Written pieces' buffers, made again by whichever thread needs one.
        let spare: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
        let make = |i: usize| {
            let mut buf = spare.lock().ok().and_then(|mut s| s.pop()).unwrap_or_default();
            self.make(&pieces[i], &mut buf).map(|()| buf)
        };
        std::thread::scope(|scope| {
            let (made_tx, made) = mpsc::channel();
            for _ in 0..helpers {
                let made_tx = made_tx.clone();
                let (take, make) = (&take, &make);
                scope.spawn(move || {
                    while let Some(i) = take() {
                        if made_tx.send((i, make(i))).is_err() {
                            break; // the document failed: nothing takes pieces any more
                        }
                    }
                });
            }
            drop(made_tx);
            let mut done: Vec<Option<Vec<u8>>> = (0..pieces.len()).map(|_| None).collect();
            let mut written = 0;
            let result = (|| {
                while written < pieces.len() {
                    match take() {
                        Some(i) => done[i] = Some(make(i)?),
                        None if done[written].is_none() => {
                            // Every piece is taken; the next to write is still being made.
                            let (i, piece) = made.recv().map_err(|_| stopped())?;
                            done[i] = Some(piece?);
                        }
                        None => {}
                    }
                    for (i, piece) in made.try_iter() {
                        done[i] = Some(piece?);
                    }
                    while let Some(mut buf) = done.get_mut(written).and_then(Option::take) {
                        doc.piece(pieces[written].section(), &buf)?;
                        buf.clear();
                        if let Ok(mut spare) = spare.lock() {
                            spare.push(buf);
                        }
                        written += 1;
                    }
                }
                doc.end()
            })();
            if result.is_err() {
                next.store(pieces.len(), Ordering::Relaxed); // the helpers stop
            }
            result
        })
    }
}

fn stopped() -> serde_json::Error {
    serde_json::Error::io(io::Error::other("a thread writing the JSON stopped"))
}

/// The document's text around the pieces: the `root`, each array's key and
/// brackets, and the first element of each array without its `,`.
struct Document<W: Write> {
    out: W,
    /// The array being written, and whether it has an element yet.
    open: Option<(Section, bool)>,
}

impl<W: Write> Document<W> {
    fn start(mut out: W, root: u32) -> serde_json::Result<Document<W>> {
        write!(out, "{{\n  \"root\": {root}").map_err(serde_json::Error::io)?;
        Ok(Document { out, open: None })
    }

    fn piece(&mut self, section: Section, text: &[u8]) -> serde_json::Result<()> {
        let io = serde_json::Error::io;
        if self.open.map(|(s, _)| s) != Some(section) {
            self.close()?;
            let key = match section {
                Section::Nodes => "nodes",
                Section::Bodies => "bodies",
                Section::Edges => "edges",
            };
            write!(self.out, ",\n  \"{key}\": [").map_err(io)?;
            self.open = Some((section, false));
        }
        if let (Some((_, any)), Some((_, elements))) = (&mut self.open, text.split_first()) {
            let text = if *any { text } else { elements };
            *any = true;
            self.out.write_all(text).map_err(io)?;
        }
        Ok(())
    }

    fn close(&mut self) -> serde_json::Result<()> {
        let end: &[u8] = match self.open.take() {
            Some((_, true)) => b"\n  ]",
            Some((_, false)) => b"]",
            None => return Ok(()),
        };
        self.out.write_all(end).map_err(serde_json::Error::io)
    }

    fn end(&mut self) -> serde_json::Result<()> {
        self.close()?;
        self.out.write_all(b"\n}").map_err(serde_json::Error::io)
    }
}

/// `serde_json`'s pretty printer (two spaces an indent) for a value that
/// starts `depth` levels into the document.
struct Indented {
    depth: usize,
    has_value: bool,
}

impl Indented {
    fn at(depth: usize) -> Indented {
        Indented {
            depth,
            has_value: false,
        }
    }

    fn indent<W: ?Sized + Write>(&self, out: &mut W) -> io::Result<()> {
        const SPACES: &[u8] = &[b' '; 64];
        let mut left = self.depth * 2;
        while left > 0 {
            let n = left.min(SPACES.len());
            out.write_all(&SPACES[..n])?;
            left -= n;
        }
        Ok(())
    }

    fn open<W: ?Sized + Write>(&mut self, out: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        out.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, out: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            out.write_all(b"\n")?;
            self.indent(out)?;
        }
        out.write_all(bracket)
    }

    fn element<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        out.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(out)
    }
}

impl serde_json::ser::Formatter for Indented {
    fn begin_array<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.open(out, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.close(out, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        self.element(out, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _out: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.open(out, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.close(out, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        self.element(out, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        out.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _out: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// One node of the document, written field by field: no `Value` tree (and
/// its hashed maps) is built and dropped for each of a big graph's nodes.
struct JsonNode<'a> {
    doc: &'a JsonGraph<'a>,
    i: usize,
    node: &'a Node,
}

impl Serialize for JsonNode<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (graph, names, run) = (self.doc.graph, &self.doc.names, self.doc.run);
        let (i, node) = (self.i, self.node);
        let body = names.owners[i];
        let first = graph.body(body).first;
        let (agent, after): (Option<&str>, &[(Arc<str>, u32)]) = match &node.kind {
            NodeKind::Task(t) => (Some(graph.agent_name(t)), &t.modifiers.after),
            NodeKind::Call(c) => (Some(&graph.flows[c.flow as usize].name), &c.modifiers.after),
            _ => (None, &[]),
        };
        let notes = annotate::notes(graph, node);
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &i)?;
        map.serialize_entry("kind", kind_name(node))?;
        map.serialize_entry("label", &*node.label)?;
        map.serialize_entry("name", &names.node_name(body, node))?;
        map.serialize_entry("agent", &agent)?;
        map.serialize_entry("body", &body.0)?;
        map.serialize_entry("deps", &Lazy(|| node.deps.iter().map(|d| first + d)))?;
        map.serialize_entry("after", &Lazy(|| after.iter().map(|(_, k)| first + k)))?;
        let bodies = TaskGraph::child_bodies(node);
        map.serialize_entry("bodies", &Lazy(|| bodies.iter().map(|b| b.0)))?;
        map.serialize_entry("notes", &annotate::NotesJson(&notes))?;
        map.serialize_entry("span", &[node.span.start, node.span.end])?;
        if let NodeKind::Map(m) = &node.kind {
            let items = names.items[m.body.0 as usize];
            map.serialize_entry("items", &items.number())?;
            if run.is_some() {
                // A run still going may make more items than it has so far.
                let so_far = matches!(items, annotate::Count::SoFar(_));
                map.serialize_entry("items_so_far", &so_far)?;
            }
        }
        if let NodeKind::Call(c) = &node.kind {
            map.serialize_entry("flow_body", &graph.flows.get(c.flow as usize).map(|f| f.body.0))?;
        }
        if run.is_some() {
            map.serialize_entry("state", &names.state(i).map(NodeState::as_str))?;
            if let Some(Some(node_run)) = run.and_then(|r| r.nodes.get(i)) {
                let states = Lazy(|| node_run.counts.iter().map(|(state, n)| (state.as_str(), n)));
                map.serialize_entry("states", &AsMap(states))?;
            }
        }
        map.end()
    }
}

/// An edge of the document: `{"from", "to", "kind"}` between two nodes, or
/// `{"from", "body", "kind"}` from a construct to one of its bodies.
enum JsonEdge {
    Within(u32, usize, &'static str),
    Link(usize, u32, &'static str),
}

impl Serialize for JsonEdge {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        match *self {
            JsonEdge::Within(from, to, kind) => {
                map.serialize_entry("from", &from)?;
                map.serialize_entry("to", &to)?;
                map.serialize_entry("kind", kind)?;
            }
            JsonEdge::Link(from, body, kind) => {
                map.serialize_entry("from", &from)?;
                map.serialize_entry("body", &body)?;
                map.serialize_entry("kind", kind)?;
            }
        }
        map.end()
    }
}

/// A sequence written as its elements are made.
struct Lazy<F>(F);

impl<F, I> Serialize for Lazy<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((self.0)())
    }
}

/// Pairs written as a JSON object.
struct AsMap<T>(T);

impl<F, I, K, V> Serialize for AsMap<Lazy<F>>
where
    F: Fn() -> I,
    I: Iterator<Item = (K, V)>,
    K: Serialize,
    V: Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(((self.0).0)())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(text: &str) -> crate::engine::Script {
        let engine = crate::Engine::new();
        match engine.compile("test.flow", text) {
            Ok(script) => script,
            Err(e) => panic!("{e:?}"),
        }
    }

    /// The document as `serde_json` pretty-prints it whole.
    fn whole(graph: &TaskGraph) -> String {
        serde_json::to_string_pretty(&to_json_with(graph, None)).unwrap()
    }

    fn in_pieces(graph: &TaskGraph, size: usize) -> String {
        let mut written = Vec::new();
        JsonGraph::new(graph, None).write(&mut written, size).unwrap();
        String::from_utf8(written).unwrap()
    }

    /// Whatever the pieces, on however many threads, the text is the whole
    /// document's, byte for byte.
    #[test]
    fn written_in_pieces_is_the_whole_document() {
        let engine = crate::Engine::new();
        let mut compared = 0;
        for path in crate::testing::project_files("examples") {
            let text = std::fs::read_to_string(&path).unwrap();
            let Ok(script) = engine.compile("example.flow", &text) else {
                continue;
            };
            let whole = whole(&script.graph);
            for size in [1, 2, 3, 7, PIECE] {
                let written = in_pieces(&script.graph, size);
                assert_eq!(written, whole, "{} in pieces of {size}", path.display());
            }
            compared += 1;
        }
        assert!(compared >= 5, "{compared} examples");
    }

    /// A graph of several default pieces: the nodes, bodies and edges
    /// arrays each cut, and the pieces made on two threads.
    #[test]
    fn a_big_graph_is_written_whole_and_in_order() {
        let mut text = String::from("let t0 = noop()\n");
        for i in 1..3 * PIECE {
            text += &format!("let t{i} = noop(a: t{}, b: t{})\n", i - 1, i / 2);
        }
        text += "let each = map x in [1, 2, 3] { noop(x: x) }\n";
        let script = compile(&text);
        let written = in_pieces(&script.graph, PIECE);
        assert_eq!(written, whole(&script.graph));
        let doc: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(doc["nodes"].as_array().unwrap().len(), script.graph.nodes.len());
        let edges = doc["edges"].as_array().unwrap();
        assert!(edges.len() > 2 * (3 * PIECE - 2), "{} edges", edges.len());
        // The links come after every edge between nodes.
        assert_eq!(edges.last().unwrap()["kind"], "body");
    }

    /// A graph with nothing in it still has its three arrays.
    #[test]
    fn an_empty_graph_has_empty_arrays() {
        let script = compile("");
        for size in [1, PIECE] {
            let written = in_pieces(&script.graph, size);
            assert_eq!(written, whole(&script.graph));
        }
    }

    /// Output that stops (`flow graph … | head`) ends the writing with its
    /// error, however many threads were making pieces.
    #[test]
    fn a_failing_output_ends_the_document_with_its_error() {
        struct Closes(usize);
        impl Write for Closes {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                if self.0 < buf.len() {
                    return Err(io::Error::from(io::ErrorKind::BrokenPipe));
                }
                self.0 -= buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let text: String = (0..500).map(|i| format!("let t{i} = noop(n: {i})\n")).collect();
        let script = compile(&text);
        for (size, room) in [(1, 0), (1, 10_000), (7, 50_000), (PIECE, 1_000)] {
            let mut out = Closes(room);
            let error = JsonGraph::new(&script.graph, None).write(&mut out, size).unwrap_err();
            assert!(error.is_io(), "{error}");
        }
    }
}
