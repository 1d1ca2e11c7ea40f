//! JSON values to SQLite values and back. Numbers stay numbers (INTEGER, or REAL for
//! fractions), booleans are stored as 0/1 in columns declared BOOLEAN, absent and null values
//! are NULL (and absent again when read), and nested values are stored as their JSON text.

use rusqlite::types::{Value as Sql, ValueRef};
use serde::Deserialize as _;
use serde_json::{Number, Value};

use crate::output::CellRef;

/// The declared SQLite type for a column whose values look like `v`.
pub fn decl_type(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "BOOLEAN",
        Value::Number(n) if n.is_f64() => "REAL",
        Value::Number(_) => "INTEGER",
        _ => "TEXT",
    }
}

/// A JSON value as SQLite stores it.
pub fn to_sql(v: &Value) -> Sql {
    match v {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Integer(i64::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Sql::Integer(i),
            (None, Some(f)) if n.is_f64() => Sql::Real(f),
            // u64 beyond i64: kept exact as text
            _ => Sql::Text(n.to_string()),
        },
        Value::String(s) => Sql::Text(s.clone()),
        other => Sql::Text(other.to_string()),
    }
}

/// A stored value as JSON; `boolean` when the column is declared BOOLEAN. NULL is None (the
/// key stays absent, as the server leaves it).
pub fn from_sql(v: ValueRef<'_>, boolean: bool) -> Option<Value> {
    Some(match v {
        ValueRef::Null => return None,
        ValueRef::Integer(i) if boolean => Value::Bool(i != 0),
        ValueRef::Integer(i) => Value::Number(i.into()),
        ValueRef::Real(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
    })
}

/// A stored value as a cell of a borrowed row, as [`from_sql`] reads it (None for NULL): text
/// borrowed from SQLite's row where JSON needs no escapes.
pub fn cell_ref(v: ValueRef<'_>, boolean: bool) -> Option<CellRef<'_>> {
    Some(match v {
        ValueRef::Null => return None,
        ValueRef::Integer(i) if boolean => CellRef::boolean(i != 0),
        ValueRef::Integer(i) => CellRef::int(i),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => CellRef::string(s),
            Err(_) => CellRef::Value(Box::new(from_sql(v, boolean)?)),
        },
        other => CellRef::Value(Box::new(from_sql(other, boolean)?)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        for (json, boolean) in [
            ("12", false),
            ("-3", false),
            ("2.5", false),
            ("\"058Y\"", false),
            ("\"12\"", false),
            ("true", true),
            ("false", true),
        ] {
            let v: Value = serde_json::from_str(json).unwrap();
            let sql = to_sql(&v);
            let back = from_sql(ValueRef::from(&sql), boolean).unwrap();
            assert_eq!(back, v, "{json}");
        }
        assert!(from_sql(ValueRef::Null, false).is_none());
        // The borrowed cells render as the owned values do.
        for (v, boolean) in [
            (ValueRef::Integer(-7), false),
            (ValueRef::Integer(1), true),
            (ValueRef::Integer(0), true),
            (ValueRef::Real(2.5), false),
            (ValueRef::Text(b"plain"), false),
            (ValueRef::Text(b"q\"uote\\ \n"), false),
            (ValueRef::Text(b"\xff bad"), false),
            (ValueRef::Blob(b"blob"), false),
        ] {
            let owned = from_sql(v, boolean).unwrap();
            let mut m = serde_json::Map::new();
            m.insert("k".into(), owned.clone());
            let borrowed = crate::output::RowRef::from_fields(vec![(
                std::borrow::Cow::Borrowed("k"),
                cell_ref(v, boolean).unwrap(),
            )]);
            assert_eq!(borrowed.to_row(), m);
            let mut text = Vec::new();
            borrowed.write_json(&mut text, None).unwrap();
            assert_eq!(text, serde_json::to_vec(&m).unwrap());
            assert_eq!(
                borrowed.value_at(0).text(),
                crate::output::cell(Some(&owned))
            );
        }
        assert!(cell_ref(ValueRef::Null, false).is_none());
        let f = fields(br#"{"a":"x\"y","b":2,"c":null,"d":[1],"e":2.5,"f":true}"#).unwrap();
        let names: Vec<&str> = f.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e", "f"]);
        assert!(matches!(&f[0].1, Cell::Text(t) if t == "x\"y"));
        assert!(matches!(f[1].1, Cell::Int(2)));
        assert!(matches!(f[2].1, Cell::Null));
        assert!(matches!(&f[3].1, Cell::Json(j) if j == "[1]"));
        assert!(fields(b"[1,2]").is_none());
        assert_eq!(decl_type(&Value::from(3)), "INTEGER");
        assert_eq!(decl_type(&Value::from(true)), "BOOLEAN");
    }
}

/// A statement's result columns: name, and whether the column is declared BOOLEAN.
pub fn column_kinds(stmt: &rusqlite::Statement<'_>) -> Vec<(String, bool)> {
    stmt.columns()
        .iter()
        .map(|c| {
            let boolean = c
                .decl_type()
                .is_some_and(|t| t.eq_ignore_ascii_case("BOOLEAN"));
            (c.name().to_string(), boolean)
        })
        .collect()
}

/// One value of a row as parsed in place: text borrowed from the response where it has no
/// escapes.
#[derive(Debug)]
pub enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Real(f64),
    Text(std::borrow::Cow<'a, str>),
    /// A nested value or a number beyond i64, kept as JSON text.
    Json(String),
}

impl rusqlite::ToSql for Cell<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ToSqlOutput::Borrowed;
        Ok(match self {
            Cell::Null => Borrowed(ValueRef::Null),
            Cell::Bool(b) => Borrowed(ValueRef::Integer(i64::from(*b))),
            Cell::Int(i) => Borrowed(ValueRef::Integer(*i)),
            Cell::Real(f) => Borrowed(ValueRef::Real(*f)),
            Cell::Text(t) => Borrowed(ValueRef::Text(t.as_bytes())),
            Cell::Json(j) => Borrowed(ValueRef::Text(j.as_bytes())),
        })
    }
}

impl<'de> serde::Deserialize<'de> for Cell<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CellVisitor)
    }
}

struct CellVisitor;

impl<'de> serde::de::Visitor<'de> for CellVisitor {
    type Value = Cell<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Cell<'de>, E> {
        Ok(Cell::Null)
    }
    fn visit_none<E>(self) -> Result<Cell<'de>, E> {
        Ok(Cell::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Cell<'de>, E> {
        Ok(Cell::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Cell<'de>, E> {
        Ok(Cell::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Cell<'de>, E> {
        Ok(i64::try_from(u).map_or_else(|_| Cell::Json(u.to_string()), Cell::Int))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Cell<'de>, E> {
        Ok(Cell::Real(f))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Cell<'de>, E> {
        Ok(Cell::Text(std::borrow::Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Cell<'de>, E> {
        Ok(Cell::Text(std::borrow::Cow::Owned(s.to_string())))
    }
    fn visit_string<E>(self, s: String) -> Result<Cell<'de>, E> {
        Ok(Cell::Text(std::borrow::Cow::Owned(s)))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, a: A) -> Result<Cell<'de>, A::Error> {
        let v = Value::deserialize(serde::de::value::SeqAccessDeserializer::new(a))?;
        Ok(Cell::Json(v.to_string()))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, a: A) -> Result<Cell<'de>, A::Error> {
        let v = Value::deserialize(serde::de::value::MapAccessDeserializer::new(a))?;
        Ok(Cell::Json(v.to_string()))
    }
}

/// A JSON value as the cell [`fields`] would read from its text.
pub fn cell_of(v: Option<&Value>) -> Cell<'_> {
    match v {
        None | Some(Value::Null) => Cell::Null,
        Some(Value::Bool(b)) => Cell::Bool(*b),
        Some(Value::String(s)) => Cell::Text(std::borrow::Cow::Borrowed(s)),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Cell::Int(i),
            (None, Some(f)) if n.is_f64() => Cell::Real(f),
            _ => Cell::Json(n.to_string()),
        },
        Some(other) => Cell::Json(other.to_string()),
    }
}

/// A key, borrowed from the response where it has no escapes.
#[derive(serde::Deserialize)]
struct Key<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>);

/// The fields of one JSON object, in order, parsed in place; None when the element is not an
/// object (the caller then takes the general path).
pub fn fields(bytes: &[u8]) -> Option<Vec<(std::borrow::Cow<'_, str>, Cell<'_>)>> {
    struct Fields;
    impl<'de> serde::de::Visitor<'de> for Fields {
        type Value = Vec<(std::borrow::Cow<'de, str>, Cell<'de>)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut a: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(a.size_hint().unwrap_or(32));
            while let Some((k, v)) = a.next_entry::<Key<'de>, Cell<'de>>()? {
                out.push((k.0, v));
            }
            Ok(out)
        }
    }
    use serde::Deserializer as _;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let out = (&mut de).deserialize_map(Fields).ok()?;
    de.end().ok()?;
    Some(out)
}
