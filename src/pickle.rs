//! A small Python pickle reader (protocols 0-5) for CIFAR's python files and PyTorch checkpoints.
//!
//! It executes the pickle machine far enough to build a plain value tree: it never imports or
//! calls anything. Class references (`GLOBAL`, `STACK_GLOBAL`), calls (`REDUCE`, `NEWOBJ`) and
//! `BUILD` become [`Value::Object`] nodes that the caller interprets (a numpy array, a tensor
//! rebuild, an `OrderedDict`). Containers are shared while reading, because a pickle may fill a
//! dict after storing it in the memo, and are frozen into owned values at `STOP`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use anyhow::{bail, Result};

/// A value read from a pickle.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Python 2 `str` and Python 3 `bytes`/`bytearray`.
    Bytes(Vec<u8>),
    Str(String),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Dict entries in insertion order (also `collections.OrderedDict`).
    Dict(Vec<(Value, Value)>),
    /// `module.name`, a class or function reference.
    Global {
        module: String,
        name: String,
    },
    /// An object made by calling `class` with `args` (REDUCE/NEWOBJ), possibly given `state`
    /// (BUILD) and items (SETITEMS/APPENDS on an object that is not a plain dict or list).
    Object {
        class: Box<Value>,
        args: Vec<Value>,
        state: Option<Box<Value>>,
        items: Vec<(Value, Value)>,
    },
    /// A persistent id (PyTorch uses them for tensor storages).
    PersistentId(Box<Value>),
}

impl Value {
    /// Text of a `Str`, or of `Bytes` that are UTF-8 (Python 2 pickles store names as bytes).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// Elements of a list or tuple.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// Entries of a dict, or of an object that was filled like one (an `OrderedDict`).
    pub fn as_dict(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Dict(d) => Some(d),
            Value::Object { items, args, .. } if args.is_empty() || !items.is_empty() => Some(items),
            _ => None,
        }
    }

    /// Look a text key up in a dict (keys may be `Str` or UTF-8 `Bytes`).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_dict()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// `module.name` of a `Global`, or of the class of an `Object`.
    pub fn class_name(&self) -> Option<String> {
        match self {
            Value::Global { module, name } => Some(format!("{module}.{name}")),
            Value::Object { class, .. } => class.class_name(),
            _ => None,
        }
    }

    /// A short description for error messages.
    pub fn kind(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(_) => "a bool".into(),
            Value::Int(_) => "an int".into(),
            Value::Float(_) => "a float".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::Str(_) => "a string".into(),
            Value::List(_) => "a list".into(),
            Value::Tuple(_) => "a tuple".into(),
            Value::Dict(_) => "a dict".into(),
            Value::Global { module, name } => format!("the global {module}.{name}"),
            Value::Object { .. } => format!("an object of {}", self.class_name().unwrap_or_default()),
            Value::PersistentId(_) => "a persistent id".into(),
        }
    }
}

/// Read one pickle from the start of `data`. Returns the value and the number of bytes read
/// (PyTorch's legacy format stores several pickles back to back).
pub fn load(data: &[u8]) -> Result<(Value, usize)> {
    let mut m = Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    let v = m.run()?;
    let used = m.pos;
    // Drop the machine's references first, so that freezing can move byte strings (a CIFAR
    // array is 150 MB) instead of copying them.
    drop(m);
    Ok((freeze(v, 0)?, used))
}

/// Working values: containers are shared so that later SETITEMS reach memoised copies.
#[derive(Debug, Clone)]
enum Node {
    Leaf(Value),
    /// Byte strings, shared so that the memo and the stack never copy them.
    Blob(Rc<Vec<u8>>),
    List(Rc<RefCell<Vec<Node>>>),
    Tuple(Rc<Vec<Node>>),
    Dict(Rc<RefCell<Vec<(Node, Node)>>>),
    Object(Rc<RefCell<Obj>>),
    Pid(Rc<Node>),
}

#[derive(Debug)]
struct Obj {
    class: Node,
    args: Vec<Node>,
    state: Option<Node>,
    items: Vec<(Node, Node)>,
}

const MAX_DEPTH: usize = 1000;

/// Take an `Rc`'s value when this is the last reference, else copy it.
fn take<T: Clone>(rc: Rc<T>) -> T {
    Rc::try_unwrap(rc).unwrap_or_else(|rc| (*rc).clone())
}

fn take_cell<T: Clone>(rc: Rc<RefCell<T>>) -> T {
    match Rc::try_unwrap(rc) {
        Ok(cell) => cell.into_inner(),
        Err(rc) => rc.borrow().clone(),
    }
}

fn freeze_all(nodes: Vec<Node>, depth: usize) -> Result<Vec<Value>> {
    nodes.into_iter().map(|x| freeze(x, depth)).collect()
}

fn freeze_pairs(pairs: Vec<(Node, Node)>, depth: usize) -> Result<Vec<(Value, Value)>> {
    pairs
        .into_iter()
        .map(|(k, v)| Ok((freeze(k, depth)?, freeze(v, depth)?)))
        .collect()
}

fn freeze(n: Node, depth: usize) -> Result<Value> {
    if depth > MAX_DEPTH {
        bail!("pickle nests deeper than {MAX_DEPTH} levels (or refers to itself); not a supported file");
    }
    let d = depth + 1;
    Ok(match n {
        Node::Leaf(v) => v,
        Node::Blob(b) => Value::Bytes(take(b)),
        Node::List(l) => Value::List(freeze_all(take_cell(l), d)?),
        Node::Tuple(t) => Value::Tuple(freeze_all(take(t), d)?),
        Node::Dict(m) => Value::Dict(freeze_pairs(take_cell(m), d)?),
        Node::Object(o) => {
            let o = match Rc::try_unwrap(o) {
                Ok(cell) => cell.into_inner(),
                Err(rc) => {
                    let o = rc.borrow();
                    Obj {
                        class: o.class.clone(),
                        args: o.args.clone(),
                        state: o.state.clone(),
                        items: o.items.clone(),
                    }
                }
            };
            Value::Object {
                class: Box::new(freeze(o.class, d)?),
                args: freeze_all(o.args, d)?,
                state: match o.state {
                    Some(s) => Some(Box::new(freeze(s, d)?)),
                    None => None,
                },
                items: freeze_pairs(o.items, d)?,
            }
        }
        Node::Pid(p) => Value::PersistentId(Box::new(freeze(take(p), d)?)),
    })
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Node>,
    marks: Vec<usize>,
    memo: HashMap<u64, Node>,
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.data.len() - self.pos < n {
            bail!(
                "pickle data ends early (truncated file?) at byte {} of {}",
                self.pos,
                self.data.len()
            );
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    fn len_u64(&mut self) -> Result<usize> {
        let n = self.u64()?;
        usize::try_from(n).map_err(|_| anyhow::anyhow!("pickle length {n} is too large"))
    }

    /// A text line without its newline (protocol 0 arguments).
    fn line(&mut self) -> Result<&'a str> {
        let rest = &self.data[self.pos..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            bail!(
                "pickle data ends early (truncated file?) inside a text argument at byte {}",
                self.pos
            );
        };
        self.pos += end + 1;
        let line = &rest[..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        std::str::from_utf8(line).map_err(|_| anyhow::anyhow!("pickle text argument is not UTF-8 at byte {}", self.pos))
    }

    fn pop(&mut self) -> Result<Node> {
        if let Some(&m) = self.marks.last() {
            if self.stack.len() <= m {
                bail!("malformed pickle: pop below a mark at byte {}", self.pos);
            }
        }
        self.stack
            .pop()
            .ok_or_else(|| anyhow::anyhow!("malformed pickle: stack underflow at byte {}", self.pos))
    }

    fn top(&mut self) -> Result<&mut Node> {
        let pos = self.pos;
        self.stack
            .last_mut()
            .ok_or_else(|| anyhow::anyhow!("malformed pickle: empty stack at byte {pos}"))
    }

    fn pop_mark(&mut self) -> Result<Vec<Node>> {
        let Some(m) = self.marks.pop() else {
            bail!("malformed pickle: no mark to pop at byte {}", self.pos);
        };
        if m > self.stack.len() {
            bail!("malformed pickle: mark above stack at byte {}", self.pos);
        }
        Ok(self.stack.split_off(m))
    }

    fn push(&mut self, v: Value) {
        let node = match v {
            Value::Bytes(b) => Node::Blob(Rc::new(b)),
            other => Node::Leaf(other),
        };
        self.stack.push(node);
    }

    fn memo_get(&mut self, idx: u64) -> Result<()> {
        let v = self
            .memo
            .get(&idx)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("malformed pickle: memo entry {idx} missing at byte {}", self.pos))?;
        self.stack.push(v);
        Ok(())
    }

    fn memo_put(&mut self, idx: u64) -> Result<()> {
        let v = self.top()?.clone();
        self.memo.insert(idx, v);
        Ok(())
    }

    fn set_items(&mut self, target: &Node, items: Vec<Node>) -> Result<()> {
        if !items.len().is_multiple_of(2) {
            bail!("malformed pickle: odd number of dict items at byte {}", self.pos);
        }
        let mut pairs = Vec::with_capacity(items.len() / 2);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            pairs.push((k, v));
        }
        match target {
            Node::Dict(d) => d.borrow_mut().extend(pairs),
            Node::Object(o) => o.borrow_mut().items.extend(pairs),
            _ => bail!(
                "malformed pickle: SETITEM on a value that is not a dict at byte {}",
                self.pos
            ),
        }
        Ok(())
    }

    fn append(&mut self, target: &Node, items: Vec<Node>) -> Result<()> {
        match target {
            Node::List(l) => l.borrow_mut().extend(items),
            Node::Object(o) => {
                let mut o = o.borrow_mut();
                for v in items {
                    let k = Node::Leaf(Value::Int(o.items.len() as i64));
                    o.items.push((k, v));
                }
            }
            _ => bail!(
                "malformed pickle: APPEND on a value that is not a list at byte {}",
                self.pos
            ),
        }
        Ok(())
    }

    fn make_object(&mut self, class: Node, args: Node) -> Result<Node> {
        let args = match args {
            Node::Tuple(t) => t.as_ref().clone(),
            Node::Leaf(Value::None) => Vec::new(),
            other => vec![other],
        };
        // Dict-like classes become dicts so that SETITEMS and lookups treat them as such.
        if let Node::Leaf(Value::Global { module, name }) = &class {
            if module == "collections" && name == "OrderedDict" && args.is_empty() {
                return Ok(Node::Dict(Rc::new(RefCell::new(Vec::new()))));
            }
            if module == "__builtin__" || module == "builtins" {
                if name == "set" || name == "frozenset" || name == "list" {
                    let items = args.first().map(seq_nodes).unwrap_or_default();
                    return Ok(Node::List(Rc::new(RefCell::new(items))));
                }
                if name == "bytearray" || name == "bytes" {
                    if let Some(Node::Blob(b)) = args.first() {
                        return Ok(Node::Blob(Rc::clone(b)));
                    }
                }
            }
            if module == "_codecs" && name == "encode" {
                // Python 3 writes bytes for protocol 2 as _codecs.encode(text, 'latin1').
                if let Some(Node::Leaf(Value::Str(s))) = args.first() {
                    let bytes: Option<Vec<u8>> = s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
                    if let Some(b) = bytes {
                        return Ok(Node::Blob(Rc::new(b)));
                    }
                }
            }
        }
        Ok(Node::Object(Rc::new(RefCell::new(Obj {
            class,
            args,
            state: None,
            items: Vec::new(),
        }))))
    }

    fn run(&mut self) -> Result<Node> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        bail!("unsupported pickle protocol {proto} (this reader knows 0 to 5)");
                    }
                }
                0x95 => {
                    self.u64()?; // FRAME: a length hint only
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.stack.push(v);
                }
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'I' => {
                    let l = self.line()?;
                    let v = match l {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        _ => Value::Int(l.trim().parse().map_err(|_| anyhow::anyhow!("bad INT {l:?} in pickle at byte {at}"))?),
                    };
                    self.push(v);
                }
                b'L' => {
                    let l = self.line()?;
                    let t = l.trim().trim_end_matches('L');
                    let v: i64 = t.parse().map_err(|_| anyhow::anyhow!("integer {l:?} in pickle does not fit 64 bits (byte {at})"))?;
                    self.push(Value::Int(v));
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(i64::from(v)));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(i64::from(v)));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a { usize::from(self.u8()?) } else { self.u32()? as usize };
                    let bytes = self.take(n)?;
                    self.push(Value::Int(long_from_le(bytes, at)?));
                }
                b'F' => {
                    let l = self.line()?;
                    let v: f64 = l.trim().parse().map_err(|_| anyhow::anyhow!("bad FLOAT {l:?} in pickle at byte {at}"))?;
                    self.push(Value::Float(v));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes"));
                    self.push(Value::Float(v));
                }
                b'S' => {
                    let l = self.line()?;
                    let s = unquote_py_string(l).ok_or_else(|| anyhow::anyhow!("bad STRING {l:?} in pickle at byte {at}"))?;
                    self.push(Value::Bytes(s));
                }
                b'T' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b));
                }
                b'U' => {
                    let n = usize::from(self.u8()?);
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b));
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b));
                }
                b'C' => {
                    let n = usize::from(self.u8()?);
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b));
                }
                0x8e | 0x96 => {
                    let n = self.len_u64()?;
                    let b = self.take(n)?.to_vec();
                    self.push(Value::Bytes(b));
                }
                b'V' => {
                    let l = self.line()?;
                    self.push(Value::Str(unescape_raw_unicode(l)));
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = self.utf8(n, at)?;
                    self.push(Value::Str(s));
                }
                0x8c => {
                    let n = usize::from(self.u8()?);
                    let s = self.utf8(n, at)?;
                    self.push(Value::Str(s));
                }
                0x8d => {
                    let n = self.len_u64()?;
                    let s = self.utf8(n, at)?;
                    self.push(Value::Str(s));
                }
                b']' => self.stack.push(Node::List(Rc::new(RefCell::new(Vec::new())))),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Node::List(Rc::new(RefCell::new(items))));
                }
                b')' => self.stack.push(Node::Tuple(Rc::new(Vec::new()))),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Node::Tuple(Rc::new(items)));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.stack.push(Node::Tuple(Rc::new(items)));
                }
                b'}' => self.stack.push(Node::Dict(Rc::new(RefCell::new(Vec::new())))),
                b'd' => {
                    let items = self.pop_mark()?;
                    let d = Node::Dict(Rc::new(RefCell::new(Vec::new())));
                    self.set_items(&d, items)?;
                    self.stack.push(d);
                }
                0x8f => self.stack.push(Node::List(Rc::new(RefCell::new(Vec::new())))),
                0x90 => {
                    let items = self.pop_mark()?;
                    let target = self.top()?.clone();
                    self.append(&target, items)?;
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.stack.push(Node::List(Rc::new(RefCell::new(items))));
                }
                b'a' => {
                    let v = self.pop()?;
                    let target = self.top()?.clone();
                    self.append(&target, vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let target = self.top()?.clone();
                    self.append(&target, items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let target = self.top()?.clone();
                    self.set_items(&target, vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let target = self.top()?.clone();
                    self.set_items(&target, items)?;
                }
                b'g' => {
                    let l = self.line()?;
                    let idx = l.trim().parse().map_err(|_| anyhow::anyhow!("bad GET {l:?} in pickle at byte {at}"))?;
                    self.memo_get(idx)?;
                }
                b'h' => {
                    let idx = u64::from(self.u8()?);
                    self.memo_get(idx)?;
                }
                b'j' => {
                    let idx = u64::from(self.u32()?);
                    self.memo_get(idx)?;
                }
                b'p' => {
                    let l = self.line()?;
                    let idx = l.trim().parse().map_err(|_| anyhow::anyhow!("bad PUT {l:?} in pickle at byte {at}"))?;
                    self.memo_put(idx)?;
                }
                b'q' => {
                    let idx = u64::from(self.u8()?);
                    self.memo_put(idx)?;
                }
                b'r' => {
                    let idx = u64::from(self.u32()?);
                    self.memo_put(idx)?;
                }
                0x94 => {
                    let idx = self.memo.len() as u64;
                    self.memo_put(idx)?;
                }
                b'c' => {
                    let module = self.line()?.to_string();
                    let name = self.line()?.to_string();
                    self.push(Value::Global { module, name });
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Node::Leaf(Value::Str(module)), Node::Leaf(Value::Str(name))) => {
                            self.push(Value::Global { module, name })
                        }
                        _ => bail!("malformed pickle: STACK_GLOBAL needs two strings at byte {at}"),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let class = self.pop()?;
                    let obj = self.make_object(class, args)?;
                    self.stack.push(obj);
                }
                0x81 => {
                    let args = self.pop()?;
                    let class = self.pop()?;
                    let obj = self.make_object(class, args)?;
                    self.stack.push(obj);
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let class = self.pop()?;
                    let obj = self.make_object(class, args)?;
                    self.stack.push(obj);
                }
                b'o' => {
                    let mut items = self.pop_mark()?;
                    if items.is_empty() {
                        bail!("malformed pickle: OBJ without a class at byte {at}");
                    }
                    let class = items.remove(0);
                    let obj = self.make_object(class, Node::Tuple(Rc::new(items)))?;
                    self.stack.push(obj);
                }
                b'i' => {
                    let module = self.line()?.to_string();
                    let name = self.line()?.to_string();
                    let items = self.pop_mark()?;
                    let obj = self.make_object(Node::Leaf(Value::Global { module, name }), Node::Tuple(Rc::new(items)))?;
                    self.stack.push(obj);
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?.clone();
                    match target {
                        Node::Object(o) => o.borrow_mut().state = Some(state),
                        // BUILD on a dict sets attributes (OrderedDict's _metadata): not needed.
                        Node::Dict(_) => {}
                        _ => bail!("malformed pickle: BUILD on a value that is not an object at byte {at}"),
                    }
                }
                b'P' => {
                    let l = self.line()?.to_string();
                    self.stack.push(Node::Pid(Rc::new(Node::Leaf(Value::Str(l)))));
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.stack.push(Node::Pid(Rc::new(pid)));
                }
                0x98 => {} // READONLY_BUFFER: no effect on the value
                0x82..=0x84 => bail!("unsupported pickle opcode EXT (0x{op:02x}) at byte {at}: extension registry entries are not supported"),
                0x97 => bail!("unsupported pickle opcode NEXT_BUFFER at byte {at}: out-of-band buffers are not supported"),
                other => bail!("unknown pickle opcode 0x{other:02x} at byte {at}; the file is corrupt or not a pickle"),
            }
        }
    }

    fn utf8(&mut self, n: usize, at: usize) -> Result<String> {
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| anyhow::anyhow!("pickle string at byte {at} is not valid UTF-8"))
    }
}

fn seq_nodes(n: &Node) -> Vec<Node> {
    match n {
        Node::List(l) => l.borrow().clone(),
        Node::Tuple(t) => t.as_ref().clone(),
        _ => Vec::new(),
    }
}

/// Two's-complement little-endian integer (LONG1/LONG4), up to 64 bits.
fn long_from_le(bytes: &[u8], at: usize) -> Result<i64> {
    if bytes.is_empty() {
        return Ok(0);
    }
    if bytes.len() > 8 {
        let sign = if bytes[bytes.len() - 1] & 0x80 != 0 { 0xff } else { 0 };
        if bytes[8..].iter().any(|&b| b != sign) {
            bail!("integer in pickle at byte {at} does not fit 64 bits");
        }
    }
    let n = bytes.len().min(8);
    let neg = bytes[n - 1] & 0x80 != 0;
    let mut buf = if neg { [0xffu8; 8] } else { [0u8; 8] };
    buf[..n].copy_from_slice(&bytes[..n]);
    Ok(i64::from_le_bytes(buf))
}

/// Protocol 0 `STRING` argument: a Python repr in single or double quotes.
fn unquote_py_string(l: &str) -> Option<Vec<u8>> {
    let b = l.as_bytes();
    if b.len() < 2 || (b[0] != b'\'' && b[0] != b'"') || b[b.len() - 1] != b[0] {
        return None;
    }
    let inner = &b[1..b.len() - 1];
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        if inner[i] == b'\\' && i + 1 < inner.len() {
            i += 1;
            match inner[i] {
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'\'' => out.push(b'\''),
                b'"' => out.push(b'"'),
                b'x' if i + 2 < inner.len() => {
                    let h = std::str::from_utf8(&inner[i + 1..i + 3]).ok()?;
                    out.push(u8::from_str_radix(h, 16).ok()?);
                    i += 2;
                }
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
        } else {
            out.push(inner[i]);
        }
        i += 1;
    }
    Some(out)
}

/// Protocol 0 `UNICODE` argument: raw-unicode-escape (`\uXXXX`, `\UXXXXXXXX`).
fn unescape_raw_unicode(l: &str) -> String {
    let mut out = String::with_capacity(l.len());
    let chars: Vec<char> = l.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() && (chars[i + 1] == 'u' || chars[i + 1] == 'U') {
            let len = if chars[i + 1] == 'u' { 4 } else { 8 };
            if i + 2 + len <= chars.len() {
                let hex: String = chars[i + 2..i + 2 + len].iter().collect();
                if let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    out.push(c);
                    i += 2 + len;
                    continue;
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_protocol_2_dict_with_memo_and_setitems() {
        // pickle.dumps({'a': [1, 2], b'b': 3.5}, protocol=2) written by hand:
        let data =
            b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01K\x02eU\x01bq\x03G@\x0c\x00\x00\x00\x00\x00\x00u.";
        let (v, used) = load(data).unwrap();
        assert_eq!(used, data.len());
        assert_eq!(v.get("a"), Some(&Value::List(vec![Value::Int(1), Value::Int(2)])));
        assert_eq!(v.get("b"), Some(&Value::Float(3.5)));
    }

    #[test]
    fn memoised_dict_filled_later_is_seen_filled() {
        // ({} memo 0, fill it, then a tuple (memo0, memo0))
        let data = b"\x80\x02}q\x00X\x01\x00\x00\x00kK\x07s0(h\x00h\x00t.";
        let (v, _) = load(data).unwrap();
        let t = v.as_seq().unwrap();
        assert_eq!(t[0].get("k"), Some(&Value::Int(7)));
        assert_eq!(t[1].get("k"), Some(&Value::Int(7)));
    }

    #[test]
    fn long1_and_negative_ints() {
        assert_eq!(long_from_le(&[0xff], 0).unwrap(), -1);
        assert_eq!(long_from_le(&[0x00, 0x01], 0).unwrap(), 256);
        assert!(long_from_le(&[0, 0, 0, 0, 0, 0, 0, 0, 1], 0).is_err());
    }

    #[test]
    fn python2_strings_globals_reduce_build_and_persistent_ids() {
        // Python 2 style: SHORT_BINSTRING / BINSTRING keys, GLOBAL + REDUCE + BUILD, BINPERSID.
        let data =
            b"\x80\x02}q\x00(U\x01kcmod\nCls\nq\x01)Rq\x02}U\x01xK\x05sbT\x02\x00\x00\x00idX\x01\x00\x00\x00sQu.";
        let (v, used) = load(data).unwrap();
        assert_eq!(used, data.len());
        let obj = v.get("k").unwrap();
        assert_eq!(obj.class_name().as_deref(), Some("mod.Cls"));
        let Value::Object { state: Some(state), .. } = obj else {
            panic!("{obj:?}")
        };
        assert_eq!(state.get("x"), Some(&Value::Int(5)));
        assert_eq!(
            v.get("id"),
            Some(&Value::PersistentId(Box::new(Value::Str("s".into()))))
        );
    }

    #[test]
    fn protocol_0_text_opcodes() {
        // pickle.dumps({'a': (1, 2.5, 'x')}, protocol=0) in Python 3.
        let data = b"(dp0\nVa\np1\n(I1\nF2.5\nVx\np2\ntp3\ns.";
        let (v, _) = load(data).unwrap();
        let t = v.get("a").unwrap().as_seq().unwrap();
        assert_eq!(t, &[Value::Int(1), Value::Float(2.5), Value::Str("x".into())]);
    }

    #[test]
    fn unsupported_opcodes_are_named() {
        let e = load(b"\x80\x02\x82\x01.").unwrap_err().to_string();
        assert!(e.contains("unsupported pickle opcode EXT"), "{e}");
        let e = load(b"\x80\x02\xff.").unwrap_err().to_string();
        assert!(e.contains("unknown pickle opcode 0xff"), "{e}");
    }

    #[test]
    fn truncated_input_errors_at_every_length() {
        let data = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01K\x02eu.";
        for n in 0..data.len() {
            assert!(load(&data[..n]).is_err(), "prefix of {n} bytes should fail");
        }
        assert!(load(data).is_ok());
    }
}
