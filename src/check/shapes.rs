//! Shapes: a small static type layer over JSON Schema. A [`Shape`] says what
//! kind of value an expression has when the checker knows it: from a literal,
//! or from an agent's declared contract (its output schema, or the schema of
//! one of its inputs). What the checker does not know is [`Kind::Any`], which
//! never conflicts with anything: no check is ever made against a guess.
//!
//! Every shape node remembers where it came from ([`Origin`]): the checker
//! reports problems only where a declared contract is involved, and says
//! which one.

use std::rc::Rc;

use serde_json::{Map, Value};

use crate::source::Span;

/// A declared contract a shape comes from: "`Critic`'s schema", and where it
/// is written.
#[derive(Debug, PartialEq)]
pub(super) struct Origin {
    /// How messages name it: "`Critic`'s output schema".
    pub what: String,
    /// The config key that declares it.
    pub span: Span,
}

/// What the checker knows about a value.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Shape {
    pub kind: Kind,
    /// The contract that declared it; `None` for literals and unknowns.
    pub origin: Option<Rc<Origin>>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Kind {
    /// Unknown: anything.
    Any,
    Null,
    Bool,
    /// A number; `integer` when it is a whole number.
    Number {
        integer: bool,
    },
    /// A string; `choices` when it is one of a few (a schema's `enum`, a literal).
    String {
        choices: Option<Rc<[String]>>,
    },
    /// A list of items of one shape.
    List(Rc<Shape>),
    Object(Rc<ObjectShape>),
    /// One of these shapes (never `Any`, never empty).
    OneOf(Rc<[Shape]>),
}

/// An object's known fields.
#[derive(Debug, PartialEq)]
pub(super) struct ObjectShape {
    pub fields: Vec<Field>,
    /// No field outside `fields` exists: a literal object, or a schema that
    /// lists `properties` and does not set `additionalProperties` to `true`
    /// or to a schema.
    pub closed: bool,
    /// The shape of the fields not listed, when the object is open.
    pub rest: Shape,
}

#[derive(Debug, PartialEq)]
pub(super) struct Field {
    pub name: String,
    pub shape: Shape,
    /// Always there (in a schema's `required`; every field of a literal).
    pub required: bool,
}

/// The kinds of runtime values, as bits: what a shape may be at run time.
pub(super) mod kinds {
    pub const NULL: u8 = 1;
    pub const BOOL: u8 = 2;
    pub const NUMBER: u8 = 4;
    pub const STRING: u8 = 8;
    pub const LIST: u8 = 16;
    pub const OBJECT: u8 = 32;
    pub const ALL: u8 = 63;
}

impl Shape {
    pub const ANY: Shape = Shape {
        kind: Kind::Any,
        origin: None,
    };

    /// A shape of no declared contract (a literal's).
    pub fn literal(kind: Kind) -> Shape {
        Shape { kind, origin: None }
    }

    pub fn is_any(&self) -> bool {
        matches!(self.kind, Kind::Any)
    }

    /// The kinds of value it may be at run time.
    pub fn kinds(&self) -> u8 {
        match &self.kind {
            Kind::Any => kinds::ALL,
            Kind::Null => kinds::NULL,
            Kind::Bool => kinds::BOOL,
            Kind::Number { .. } => kinds::NUMBER,
            Kind::String { .. } => kinds::STRING,
            Kind::List(_) => kinds::LIST,
            Kind::Object(_) => kinds::OBJECT,
            Kind::OneOf(shapes) => shapes.iter().fold(0, |k, s| k | s.kinds()),
        }
    }

    /// How messages name it: "a number", "a list of strings", "a string or null".
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Any => "any value".to_string(),
            Kind::Null => "null".to_string(),
            Kind::Bool => "a boolean".to_string(),
            Kind::Number { integer: true } => "an integer".to_string(),
            Kind::Number { integer: false } => "a number".to_string(),
            Kind::String { .. } => "a string".to_string(),
            Kind::List(item) => match &item.kind {
                Kind::Any => "a list".to_string(),
                _ => format!("a list of {}", plural(item)),
            },
            Kind::Object(_) => "an object".to_string(),
            Kind::OneOf(shapes) => {
                let all: Vec<String> = shapes.iter().map(Shape::describe).collect();
                all.join(" or ")
            }
        }
    }

    /// [`Shape::describe`], naming the few strings it may be: `"low" or "high"`.
    pub fn describe_choices(&self) -> String {
        match &self.kind {
            Kind::String { choices: Some(c) } if c.len() <= 6 => {
                let quoted: Vec<String> = c.iter().map(|c| format!("{c:?}")).collect();
                quoted.join(" or ")
            }
            _ => self.describe(),
        }
    }

    /// The shapes it may be: its alternatives, or itself.
    pub fn alternatives(&self) -> &[Shape] {
        match &self.kind {
            Kind::OneOf(shapes) => shapes,
            _ => std::slice::from_ref(self),
        }
    }

    /// The shape of a value that is one of these (`if` arms): theirs when
    /// they are all the same, else unknown.
    pub fn join(shapes: impl IntoIterator<Item = Shape>) -> Shape {
        let mut shapes = shapes.into_iter();
        let Some(first) = shapes.next() else {
            return Shape::ANY;
        };
        for shape in shapes {
            if shape != first {
                return Shape::ANY;
            }
        }
        first
    }

    /// The shape a JSON Schema declares, every node from `origin`. What it
    /// does not understand (`$ref`, `allOf`, `not`, an unknown `type`) is
    /// unknown, so never a false error.
    pub fn from_schema(schema: &Value, origin: &Rc<Origin>) -> Shape {
        let from = |kind: Kind| Shape {
            kind,
            origin: Some(origin.clone()),
        };
        let Value::Object(schema) = schema else {
            // `true`, `{}`: anything; `false`: nothing can be returned.
            return Shape::ANY;
        };
        if schema.contains_key("$ref") || schema.contains_key("allOf") || schema.contains_key("not")
        {
            return Shape::ANY;
        }
        let shape = match schema.get("type") {
            Some(Value::String(ty)) => from_type(ty, schema, origin),
            Some(Value::Array(types)) => {
                let shapes = types
                    .iter()
                    .map(|t| match t {
                        Value::String(ty) => from_type(ty, schema, origin),
                        _ => Shape::ANY,
                    })
                    .collect();
                one_of(shapes, origin)
            }
            Some(_) => Shape::ANY,
            None => match (schema.get("enum"), schema.get("const")) {
                (Some(Value::Array(values)), _) => one_of(
                    values.iter().map(|v| from_value(v, origin)).collect(),
                    origin,
                ),
                (_, Some(value)) => from_value(value, origin),
                _ => match schema.get("anyOf").or_else(|| schema.get("oneOf")) {
                    Some(Value::Array(schemas)) => one_of(
                        schemas
                            .iter()
                            .map(|s| Shape::from_schema(s, origin))
                            .collect(),
                        origin,
                    ),
                    _ => Shape::ANY,
                },
            },
        };
        // OpenAPI's `nullable: true`, which some servers accept.
        match schema.get("nullable") {
            Some(Value::Bool(true)) if !shape.is_any() => {
                one_of(vec![shape, from(Kind::Null)], origin)
            }
            _ => shape,
        }
    }
}

/// The shape of a schema whose `type` is `ty`.
fn from_type(ty: &str, schema: &Map<String, Value>, origin: &Rc<Origin>) -> Shape {
    let kind = match ty {
        "null" => Kind::Null,
        "boolean" => Kind::Bool,
        "integer" => Kind::Number { integer: true },
        "number" => Kind::Number { integer: false },
        "string" => Kind::String {
            choices: match schema.get("enum").or_else(|| schema.get("const")) {
                Some(Value::Array(values)) => strings(values),
                Some(Value::String(s)) => Some(Rc::from([s.clone()])),
                _ => None,
            },
        },
        "array" => Kind::List(Rc::new(match schema.get("items") {
            Some(items @ Value::Object(_)) => Shape::from_schema(items, origin),
            _ => Shape::ANY,
        })),
        "object" => Kind::Object(Rc::new(object(schema, origin))),
        _ => return Shape::ANY,
    };
    Shape {
        kind,
        origin: Some(origin.clone()),
    }
}

/// An object schema's fields, and whether others may exist.
fn object(schema: &Map<String, Value>, origin: &Rc<Origin>) -> ObjectShape {
    let required: Vec<&str> = match schema.get("required") {
        Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let (fields, listed) = match schema.get("properties") {
        Some(Value::Object(properties)) => (
            properties
                .iter()
                .map(|(name, schema)| Field {
                    name: name.clone(),
                    shape: Shape::from_schema(schema, origin),
                    required: required.contains(&name.as_str()),
                })
                .collect(),
            true,
        ),
        _ => (Vec::new(), false),
    };
    let (closed, rest) = match schema.get("additionalProperties") {
        _ if schema.contains_key("patternProperties") => (false, Shape::ANY),
        None | Some(Value::Bool(false)) => (listed, Shape::ANY),
        Some(rest @ Value::Object(_)) => (false, Shape::from_schema(rest, origin)),
        Some(_) => (false, Shape::ANY),
    };
    ObjectShape {
        fields,
        closed,
        rest,
    }
}

/// The shape of an `enum` or `const` value.
fn from_value(value: &Value, origin: &Rc<Origin>) -> Shape {
    let kind = match value {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(n) => Kind::Number {
            integer: n.is_i64() || n.is_u64(),
        },
        Value::String(s) => Kind::String {
            choices: Some(Rc::from([s.clone()])),
        },
        _ => return Shape::ANY,
    };
    Shape {
        kind,
        origin: Some(origin.clone()),
    }
}

fn strings(values: &[Value]) -> Option<Rc<[String]>> {
    values
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()
        .map(Rc::from)
}

/// One of `shapes`, merging strings' choices and numbers: unknown if any is.
fn one_of(shapes: Vec<Shape>, origin: &Rc<Origin>) -> Shape {
    let mut merged: Vec<Shape> = Vec::new();
    for shape in shapes.into_iter().flat_map(|s| s.alternatives().to_vec()) {
        if shape.is_any() {
            return Shape::ANY;
        }
        let same_kind = merged.iter_mut().find(|m| m.kinds() == shape.kinds());
        match (same_kind, shape.kind) {
            (None, kind) => merged.push(Shape {
                kind,
                origin: shape.origin,
            }),
            (Some(m), Kind::String { choices }) => {
                if let Kind::String { choices: mine } = &mut m.kind {
                    *mine = match (mine.take(), choices) {
                        (Some(a), Some(b)) => {
                            let mut all = a.to_vec();
                            all.extend(b.iter().filter(|c| !a.contains(c)).cloned());
                            Some(Rc::from(all))
                        }
                        _ => None,
                    };
                }
            }
            (Some(m), Kind::Number { integer }) => {
                if let Kind::Number { integer: mine } = &mut m.kind {
                    *mine &= integer;
                }
            }
            (Some(m), kind @ (Kind::Null | Kind::Bool)) => m.kind = kind,
            // Two lists or two objects of different shapes: too much to follow.
            (Some(_), _) => return Shape::ANY,
        }
    }
    match merged.len() {
        0 => Shape::ANY,
        1 => merged.pop().unwrap_or(Shape::ANY),
        _ => Shape {
            kind: Kind::OneOf(merged.into()),
            origin: Some(origin.clone()),
        },
    }
}

/// How messages name many of a shape: "strings", "lists of numbers".
fn plural(shape: &Shape) -> String {
    match &shape.kind {
        Kind::Any | Kind::OneOf(_) => "values".to_string(),
        Kind::Null => "nulls".to_string(),
        Kind::Bool => "booleans".to_string(),
        Kind::Number { integer: true } => "integers".to_string(),
        Kind::Number { integer: false } => "numbers".to_string(),
        Kind::String { .. } => "strings".to_string(),
        Kind::List(item) if item.is_any() => "lists".to_string(),
        Kind::List(item) => format!("lists of {}", plural(item)),
        Kind::Object(_) => "objects".to_string(),
    }
}

/// Why a value of shape `given`, passed as `name`, cannot be where
/// `expected` is declared, if that is certain: a different kind, a string
/// outside the declared choices, an object without a required field, or such
/// a conflict inside a list or an object ("`r.meta.level` is an integer where
/// a string is expected"). Unknown shapes never conflict; nor do fields the
/// declaration does not list.
pub(super) fn conflict(expected: &Shape, given: &Shape, name: &str) -> Option<String> {
    conflict_at(expected, given, name, true)
}

fn conflict_at(expected: &Shape, given: &Shape, path: &str, top: bool) -> Option<String> {
    if expected.is_any() || given.is_any() {
        return None;
    }
    // Every alternative of the value must fail every alternative expected.
    let mut first = None;
    for g in given.alternatives() {
        let mut reason = None;
        for e in expected.alternatives() {
            match conflict_one(e, g, path, top) {
                None => return None,
                Some(r) => {
                    reason.get_or_insert(r);
                }
            }
        }
        first = first.or(reason);
    }
    first
}

fn conflict_one(expected: &Shape, given: &Shape, path: &str, top: bool) -> Option<String> {
    let subject = |verb: &str| {
        if top {
            String::new()
        } else {
            format!("`{path}` {verb} ")
        }
    };
    if expected.is_any() || given.is_any() {
        return None;
    }
    if expected.kinds() & given.kinds() == 0 {
        return Some(format!(
            "{}{} where {} is expected",
            subject("is"),
            given.describe(),
            expected.describe_choices()
        ));
    }
    match (&expected.kind, &given.kind) {
        (
            Kind::String {
                choices: Some(allowed),
            },
            Kind::String {
                choices: Some(choices),
            },
        ) if choices.iter().all(|c| !allowed.contains(c)) => Some(format!(
            "{}{} where {} is expected",
            subject("is"),
            given.describe_choices(),
            expected.describe_choices()
        )),
        (Kind::List(e), Kind::List(g)) => conflict_at(e, g, &format!("{path}[…]"), false),
        (Kind::Object(e), Kind::Object(g)) => {
            for field in &e.fields {
                match g.fields.iter().find(|f| f.name == field.name) {
                    Some(found) => {
                        let inner = format!("{path}.{}", field.name);
                        if let Some(reason) = conflict_at(&field.shape, &found.shape, &inner, false)
                        {
                            return Some(reason);
                        }
                    }
                    None if field.required && g.closed => {
                        let it = if top { "it ".to_string() } else { subject("") };
                        return Some(format!(
                            "{it}has no field `{}`, which is required",
                            field.name
                        ));
                    }
                    None => {}
                }
            }
            None
        }
        _ => None,
    }
}
