//! A minimal value that follows a JSON Schema, for a dry run's `llm` stub:
//! objects with their required properties, a `const` or the first `enum`
//! value, strings `"…"` (as long as `minLength` asks), numbers at their
//! `minimum` or 0, arrays of `minItems` stub items, `false`, `null`. Local
//! `$ref`s are followed, `allOf` merged, the first of `anyOf`/`oneOf` taken.
//! Best effort: a schema with a `pattern` or a `not` may not be met.

use serde_json::{Map, Number, Value};

/// How deep schemas nest before the stub gives `null` (recursive `$ref`s).
const MAX_DEPTH: usize = 32;

/// The longest string or list made for a `minLength` or `minItems`.
const MAX_LENGTH: u64 = 1000;

/// A minimal value following `schema`.
pub(super) fn minimal(schema: &Value) -> Value {
    Stub { root: schema }.value(schema, 0)
}

struct Stub<'a> {
    root: &'a Value,
}

impl Stub<'_> {
    fn value(&self, schema: &Value, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        let s = self.flatten(schema, depth);
        if let Some(value) = s.get("const") {
            return value.clone();
        }
        if let Some(first) = s.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
            return first.clone();
        }
        match type_of(&s) {
            "object" => self.object(&s, depth),
            "array" => self.array(&s, depth),
            "string" => string(&s),
            "integer" => number(&s, true),
            "number" => number(&s, false),
            "boolean" => Value::Bool(false),
            _ => Value::Null,
        }
    }

    /// The schema's own keys merged with those of its `$ref`, its `allOf`
    /// and the first of its `anyOf` and `oneOf` (its own keys win; the
    /// `properties` and `required` of all are joined).
    fn flatten(&self, schema: &Value, depth: usize) -> Map<String, Value> {
        let mut out = Map::new();
        let Some(fields) = schema.as_object() else {
            return out;
        };
        for (key, value) in fields {
            if !matches!(key.as_str(), "$ref" | "allOf" | "anyOf" | "oneOf") {
                merge(&mut out, key, value);
            }
        }
        if depth > MAX_DEPTH {
            return out;
        }
        let mut parts: Vec<&Value> = Vec::new();
        if let Some(target) = fields.get("$ref").and_then(Value::as_str).and_then(|r| self.resolve(r)) {
            parts.push(target);
        }
        if let Some(all) = fields.get("allOf").and_then(Value::as_array) {
            parts.extend(all);
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(first) = fields.get(key).and_then(Value::as_array).and_then(|a| a.first()) {
                parts.push(first);
            }
        }
        for part in parts {
            for (key, value) in self.flatten(part, depth + 1) {
                merge(&mut out, &key, &value);
            }
        }
        out
    }

    /// A `$ref` within the schema (`#`, `#/$defs/x`); others are not followed.
    fn resolve(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    fn object(&self, s: &Map<String, Value>, depth: usize) -> Value {
        let properties = s.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = s
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut out = Map::new();
        // In the order of `properties`, then required names it lacks.
        for (name, schema) in properties.into_iter().flatten() {
            if required.contains(&name.as_str()) {
                out.insert(name.clone(), self.value(schema, depth + 1));
            }
        }
        for name in required {
            if !out.contains_key(name) {
                let schema = properties.and_then(|p| p.get(name));
                let value = schema.map_or(Value::Null, |s| self.value(s, depth + 1));
                out.insert(name.to_string(), value);
            }
        }
        Value::Object(out)
    }

    fn array(&self, s: &Map<String, Value>, depth: usize) -> Value {
        let count = s.get("minItems").and_then(Value::as_u64).unwrap_or(0).min(MAX_LENGTH);
        // `prefixItems` (2020-12), or `items` as a list (earlier drafts), are
        // the first items' schemas; `items` as a schema is every other's.
        let prefix = s
            .get("prefixItems")
            .or_else(|| s.get("items").filter(|i| i.is_array()))
            .and_then(Value::as_array);
        let rest = s.get("items").filter(|i| !i.is_array());
        (0..count as usize)
            .map(|i| match prefix.and_then(|p| p.get(i)).or(rest) {
                Some(schema) => self.value(schema, depth + 1),
                None => Value::Null,
            })
            .collect()
    }
}

/// Joins a key into a flattened schema: the first value wins, except that
/// `properties` and `required` gather those of every part.
fn merge(out: &mut Map<String, Value>, key: &str, value: &Value) {
    match (key, out.get_mut(key), value) {
        ("properties", Some(Value::Object(have)), Value::Object(more)) => {
            for (name, schema) in more {
                have.entry(name.clone()).or_insert_with(|| schema.clone());
            }
        }
        ("required", Some(Value::Array(have)), Value::Array(more)) => {
            for name in more {
                if !have.contains(name) {
                    have.push(name.clone());
                }
            }
        }
        (_, Some(_), _) => {}
        (_, None, _) => {
            out.insert(key.to_string(), value.clone());
        }
    }
}

/// The type to make: the schema's `type` (the first that is not `null`, when
/// it lists several), else what its keywords imply.
fn type_of(s: &Map<String, Value>) -> &str {
    match s.get("type") {
        Some(Value::String(ty)) => return ty,
        Some(Value::Array(types)) => {
            let mut names = types.iter().filter_map(Value::as_str);
            let first = names.clone().next();
            if let Some(ty) = names.find(|t| *t != "null").or(first) {
                return ty;
            }
        }
        _ => {}
    }
    let has = |keys: &[&str]| keys.iter().any(|k| s.contains_key(*k));
    if has(&["properties", "required", "additionalProperties", "minProperties"]) {
        "object"
    } else if has(&["items", "prefixItems", "minItems", "contains"]) {
        "array"
    } else if has(&["minLength", "maxLength", "pattern", "format"]) {
        "string"
    } else if has(&["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"]) {
        "number"
    } else {
        "null"
    }
}

fn string(s: &Map<String, Value>) -> Value {
    let known = match s.get("format").and_then(Value::as_str) {
        Some("date-time") => Some("1970-01-01T00:00:00Z"),
        Some("date") => Some("1970-01-01"),
        Some("time") => Some("00:00:00Z"),
        Some("email") => Some("user@example.com"),
        Some("uri" | "url" | "iri") => Some("https://example.com/"),
        Some("uuid") => Some("00000000-0000-0000-0000-000000000000"),
        _ => None,
    };
    if let Some(text) = known {
        return Value::String(text.to_string());
    }
    let min = s.get("minLength").and_then(Value::as_u64).unwrap_or(1).min(MAX_LENGTH);
    let max = s.get("maxLength").and_then(Value::as_u64).unwrap_or(u64::MAX);
    Value::String("…".repeat(min.min(max) as usize))
}

/// `minimum` (or just past `exclusiveMinimum`), else `maximum` (or just
/// short of `exclusiveMaximum`) when it is below 0, else 0.
fn number(s: &Map<String, Value>, integer: bool) -> Value {
    let get = |key: &str| s.get(key).and_then(Value::as_f64);
    let mut x = 0.0;
    if let Some(min) = get("minimum") {
        x = min;
    } else if let Some(min) = get("exclusiveMinimum") {
        x = if integer { min.floor() + 1.0 } else { min + 1.0 };
    } else if let Some(max) = get("maximum").filter(|m| *m < 0.0) {
        x = max;
    } else if let Some(max) = get("exclusiveMaximum").filter(|m| *m <= 0.0) {
        x = if integer { max.ceil() - 1.0 } else { max - 1.0 };
    }
    if integer {
        x = x.ceil();
    }
    if x.fract() == 0.0 && x.abs() < 9e15 {
        Value::from(x as i64)
    } else {
        Number::from_f64(x).map_or(Value::from(0), Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn stubs_follow_their_schema() {
        for (schema, expected) in [
            (
                json!({"type": "object", "properties": {
                    "score": {"type": "number"}, "note": {"type": "string"}, "tags": {"type": "array"}},
                    "required": ["score", "tags"]}),
                json!({"score": 0, "tags": []}),
            ),
            (json!({"enum": ["low", "high"]}), json!("low")),
            (json!({"const": 3}), json!(3)),
            (json!({"type": "integer", "minimum": 1.5}), json!(2)),
            (json!({"type": "number", "exclusiveMinimum": 0}), json!(1)),
            (json!({"type": "integer", "maximum": -3}), json!(-3)),
            (json!({"type": "string", "minLength": 3}), json!("………")),
            (json!({"type": "string", "maxLength": 0}), json!("")),
            (json!({"type": ["null", "boolean"]}), json!(false)),
            (
                json!({"type": "array", "minItems": 2, "items": {"enum": ["a"]}}),
                json!(["a", "a"]),
            ),
            (
                json!({"$defs": {"p": {"type": "object", "properties": {"x": {"const": 1}}, "required": ["x"]}},
                       "type": "array", "minItems": 1, "items": {"$ref": "#/$defs/p"}}),
                json!([{"x": 1}]),
            ),
            (
                json!({"allOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]},
                                 {"properties": {"b": {"type": "boolean"}}, "required": ["b"]}]}),
                json!({"a": "…", "b": false}),
            ),
            (json!({"anyOf": [{"type": "integer"}, {"type": "string"}]}), json!(0)),
            (json!({}), json!(null)),
            (json!(true), json!(null)),
        ] {
            let stub = minimal(&schema);
            assert_eq!(stub, expected, "{schema}");
            let validator = jsonschema::validator_for(&schema).unwrap();
            assert!(validator.is_valid(&stub), "{stub} does not follow {schema}");
        }
    }

    #[test]
    fn recursive_schemas_end() {
        let schema = json!({"type": "object", "properties": {"next": {"$ref": "#"}}, "required": ["next"]});
        let stub = minimal(&schema);
        assert!(stub.pointer("/next/next/next").is_some());
    }
}
