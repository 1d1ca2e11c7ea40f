//! JSON values to SQLite values and back. Numbers stay numbers (INTEGER, or REAL for
//! fractions), booleans are stored as 0/1 in columns declared BOOLEAN, absent and null values
//! are NULL (and absent again when read), and nested values are stored as their JSON text.

use rusqlite::types::{Value as Sql, ValueRef};
use serde_json::{Number, Value};

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
        assert_eq!(decl_type(&Value::from(3)), "INTEGER");
        assert_eq!(decl_type(&Value::from(true)), "BOOLEAN");
    }
}
