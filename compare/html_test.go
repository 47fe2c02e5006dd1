package compare

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// TestHTMLSelfContainedAndEscaped: compare.html parses as HTML, refers to
// nothing outside itself but the runs' reports (relative links), embeds
// its plots as data: URIs, has a row per target, and escapes what comes
// from a run (a checker summary and an error holding a script).
func TestHTMLSelfContainedAndEscaped(t *testing.T) {
	dir, rec := comparison(t)
	rec.Runs[2].Problem = "node n2 said " + evil
	path, err := WriteHTML(dir, rec)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, HTMLFile) {
		t.Errorf("written to %s", path)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(page)
	for _, bad := range []string{"<script", "http://", "https://", "<link", "@import", "url("} {
		if strings.Contains(strings.ToLower(text), bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if !strings.Contains(text, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Error("the script in a summary is not shown escaped")
	}

	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var rows, imgs int
	var hrefs []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "iframe", "object", "embed", "link":
				t.Errorf("page has a <%s>", n.Data)
			case "tr":
				rows++
			case "img":
				imgs++
				if src := attr(n, "src"); !strings.HasPrefix(src, "data:image/svg+xml;base64,") {
					t.Errorf("img src %.60q is not an embedded SVG", src)
				}
			case "a":
				hrefs = append(hrefs, attr(n, "href"))
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(strings.ToLower(a.Key), "on") {
					t.Errorf("<%s> has an event handler %s", n.Data, a.Key)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if imgs != 2 {
		t.Errorf("%d plots, want throughput and availability", imgs)
	}
	// Results: a header and three targets; the schedule: a header and one fault.
	if rows != 4+2 {
		t.Errorf("%d table rows, want 6", rows)
	}
	for _, h := range hrefs {
		if strings.Contains(h, ":") || strings.HasPrefix(h, "/") || !strings.HasSuffix(h, "/report.html") {
			t.Errorf("link %q is not relative to a run's report", h)
		}
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(h))); err != nil {
			t.Errorf("link %q: %v", h, err)
		}
	}
	if len(hrefs) == 0 {
		t.Error("no links to the runs' reports")
	}
	// The tokenizer meets no error before the end.
	z := html.NewTokenizer(bytes.NewReader(page))
	for z.Next() != html.ErrorToken {
	}
	if err := z.Err(); err.Error() != "EOF" {
		t.Errorf("tokenizer: %v", err)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
