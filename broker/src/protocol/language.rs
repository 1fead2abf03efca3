//! The sender's language, as the `language` header field carries it.

/// RocketMQ's `LanguageCode`: a name in JSON headers, a byte in ROCKETMQ headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LanguageCode {
    /// 0; what Apogee answers with (every client version knows it).
    #[default]
    Java,
    /// 1.
    Cpp,
    /// 2.
    Dotnet,
    /// 3.
    Python,
    /// 4.
    Delphi,
    /// 5.
    Erlang,
    /// 6.
    Ruby,
    /// 7; also what unknown names and bytes decode to.
    Other,
    /// 8.
    Http,
    /// 9.
    Go,
    /// 10.
    Php,
    /// 11.
    Oms,
    /// 12.
    Rust,
    /// 13 (5.x only).
    NodeJs,
}

const ALL: [(LanguageCode, &str); 14] = [
    (LanguageCode::Java, "JAVA"),
    (LanguageCode::Cpp, "CPP"),
    (LanguageCode::Dotnet, "DOTNET"),
    (LanguageCode::Python, "PYTHON"),
    (LanguageCode::Delphi, "DELPHI"),
    (LanguageCode::Erlang, "ERLANG"),
    (LanguageCode::Ruby, "RUBY"),
    (LanguageCode::Other, "OTHER"),
    (LanguageCode::Http, "HTTP"),
    (LanguageCode::Go, "GO"),
    (LanguageCode::Php, "PHP"),
    (LanguageCode::Oms, "OMS"),
    (LanguageCode::Rust, "RUST"),
    (LanguageCode::NodeJs, "NODE_JS"),
];

impl LanguageCode {
    /// The byte of a ROCKETMQ header.
    pub fn code(self) -> u8 {
        ALL.iter().position(|(l, _)| *l == self).map_or(7, |i| i as u8)
    }

    /// From a ROCKETMQ header byte; unknown bytes are `Other`.
    pub fn from_code(code: u8) -> Self {
        ALL.get(usize::from(code)).map_or(Self::Other, |(l, _)| *l)
    }

    /// The name of a JSON header.
    pub fn name(self) -> &'static str {
        ALL[usize::from(self.code())].1
    }

    /// From a JSON header name; unknown names are `Other`.
    pub fn from_name(name: &str) -> Self {
        ALL.iter()
            .find(|(_, n)| *n == name)
            .map_or(Self::Other, |(l, _)| *l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_match_the_reference() {
        assert_eq!(LanguageCode::Java.code(), 0);
        assert_eq!(LanguageCode::Go.code(), 9);
        assert_eq!(LanguageCode::Rust.code(), 12);
        assert_eq!(LanguageCode::NodeJs.code(), 13);
        assert_eq!(LanguageCode::from_name("NODE_JS"), LanguageCode::NodeJs);
        assert_eq!(LanguageCode::from_name("COBOL"), LanguageCode::Other);
        assert_eq!(LanguageCode::from_code(200), LanguageCode::Other);
        for (lang, name) in ALL {
            assert_eq!(LanguageCode::from_code(lang.code()), lang);
            assert_eq!(lang.name(), name);
        }
    }
}
