//! JSON values to SQLite values and back. Numbers stay numbers (INTEGER, or REAL for
//! fractions), booleans are stored as 0/1 in columns declared BOOLEAN, absent and null values
//! are NULL (and absent again when read), and nested values are stored as their JSON text.

use rusqlite::types::{Value as Sql, ValueRef};
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
        // Cells of values read in place are those of the same values read by serde_json.
        let doc = br#"{"a":"x\"y","b":2,"c":null,"d":[1],"e":2.5,"f":true,"g":false,"h":-7,
            "i":12345678901234567890,"j":-0,"k":1e5,"l":"\u00e9t\u00e9","m":{"n":[true]},
            "o":"plain","p":999999999999999999,"q":-9223372036854775808,"r":0.1}"#;
        let mut parser = crate::output::RowParser::new();
        let row = parser.parse(doc).unwrap();
        let owned: serde_json::Map<String, Value> = serde_json::from_slice(doc).unwrap();
        assert_eq!(row.keys().count(), owned.len());
        for ((k, v), (ok, ov)) in row.iter().zip(&owned) {
            assert_eq!(k, ok);
            let (a, b) = (Cell::of_ref(v), cell_of(Some(ov)));
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{k}");
        }
        assert!(matches!(Cell::of_ref(row.get("b").unwrap()), Cell::Int(2)));
        assert!(matches!(
            Cell::of_ref(row.get("f").unwrap()),
            Cell::Bool(true)
        ));
        assert!(matches!(Cell::of_ref(row.get("d").unwrap()), Cell::Json(j) if j == "[1]"));
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

/// A JSON value as a cell.
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

impl<'a> Cell<'a> {
    /// A value read in place ([`crate::output::RowParser`]) as the cell [`cell_of`] makes of
    /// the same value read by serde_json.
    pub fn of_ref(v: &'a crate::output::CellRef<'_>) -> Cell<'a> {
        use crate::output::CellRef;
        match v {
            CellRef::Str(s) => Cell::Text(std::borrow::Cow::Borrowed(s)),
            CellRef::Lit(l) => match l.as_ref() {
                "true" => Cell::Bool(true),
                "false" => Cell::Bool(false),
                n => n
                    .parse()
                    .map_or_else(|_| Cell::Json(n.to_string()), Cell::Int),
            },
            CellRef::Null => Cell::Null,
            CellRef::Value(v) => cell_of(Some(v)),
        }
    }
}
