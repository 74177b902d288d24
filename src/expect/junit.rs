//! JUnit XML for `check --junit`: one `<testsuite>` per scenario, one `<testcase>` per
//! outcome, a `<failure>` with what was measured and expected (and the witness replication)
//! for a failed one. Deterministic: no timestamps or durations.

use super::Outcome;

/// XML-escapes text for use in attributes and element content; characters not allowed in
/// XML 1.0 become U+FFFD.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one `<testsuite>` per scenario, one `<testcase>` per outcome, `<failure>` for
/// failed ones. Deterministic (no timestamps or durations).
pub fn junit_xml(suites: &[(String, Vec<Outcome>)]) -> String {
    let count = |v: &[Outcome]| v.iter().filter(|o| !o.passed).count();
    let tests: usize = suites.iter().map(|(_, v)| v.len()).sum();
    let failures: usize = suites.iter().map(|(_, v)| count(v)).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"dupsim check\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">\n"
    ));
    for (name, outcomes) in suites {
        let name = xml_escape(name);
        out.push_str(&format!(
            "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\">\n",
            outcomes.len(),
            count(outcomes)
        ));
        for o in outcomes {
            out.push_str(&testcase_xml(&name, o));
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn testcase_xml(suite: &str, o: &Outcome) -> String {
    let head = format!("    <testcase classname=\"{suite}\" name=\"{}\"", xml_escape(&o.name));
    if o.passed {
        return format!("{head}/>\n");
    }
    let mut detail = format!("measured: {}\nexpected: {}", o.measured, o.bound);
    if let Some((p, r)) = o.witness {
        detail.push_str(&format!("\nwitness: point {p}, replication {r}"));
    }
    let message = format!("measured {}, expected {}", o.measured, o.bound);
    format!(
        "{head}>\n      <failure message=\"{}\" type=\"expectation\">{}</failure>\n    </testcase>\n",
        xml_escape(&message),
        xml_escape(&detail)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_escapes_and_counts() {
        let outcome = |name: &str, passed: bool| Outcome {
            name: name.to_string(),
            measured: "5 <&\">".to_string(),
            bound: "< 1".to_string(),
            passed,
            witness: (!passed).then_some((1, 2)),
        };
        let xml = junit_xml(&[
            ("a<&\"b".to_string(), vec![outcome("x < 1 & \"y\"", false), outcome("ok", true)]),
            ("second".to_string(), vec![outcome("z\u{1}", false)]),
        ]);
        assert!(xml.contains("<testsuites name=\"dupsim check\" tests=\"3\" failures=\"2\""), "{xml}");
        assert!(xml.contains("<testsuite name=\"a&lt;&amp;&quot;b\" tests=\"2\" failures=\"1\""), "{xml}");
        assert!(xml.contains("name=\"x &lt; 1 &amp; &quot;y&quot;\""), "{xml}");
        assert!(xml.contains("message=\"measured 5 &lt;&amp;&quot;&gt;, expected &lt; 1\""), "{xml}");
        assert!(xml.contains("witness: point 1, replication 2</failure>"), "{xml}");
        assert!(xml.contains("<testcase classname=\"a&lt;&amp;&quot;b\" name=\"ok\"/>"), "{xml}");
        assert!(xml.contains("name=\"z\u{FFFD}\""), "{xml}");
        assert_eq!(xml.matches("<failure").count(), 2);
        assert_eq!(
            xml,
            junit_xml(&[
                ("a<&\"b".to_string(), vec![outcome("x < 1 & \"y\"", false), outcome("ok", true)]),
                ("second".to_string(), vec![outcome("z\u{1}", false)]),
            ])
        );
    }
}
