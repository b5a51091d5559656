package mailparse

import (
	"strings"
	"testing"
)

func TestRenderHTML(t *testing.T) {
	html := `<html><head><title>T</title><style>.x{color:#FF0000}</style><script>var a=1;</script></head><body>
<span style="display:none !important">hidden preheader 111111</span>
<div style="font-size:0;max-height:0;overflow:hidden">ghost 222222</div>
<div style="font-size:1px;color:#fff">tiny 333333</div>
<div style="opacity:0">invisible 444444</div>
<div style="visibility: hidden">invisible 555555</div>
<h1>Welcome</h1><p>First <b>para</b>.<br>Second line.</p>
<table><tr><td>Code</td><td style="font-size:32px">739142</td></tr><tr><td>Row 2</td><td>x</td></tr></table>
<p><a href=" https://ex.example/verify?t=abc ">Verify <img src="x.png" alt="icon"> email</a></p>
<img src="https://t.example/open.gif" width="1" height="1">
<div style="font-size:0"><span style="font-size:16px">shown inside zero-size container</span></div>
<blockquote>quoted line</blockquote>
</body></html>`
	r := renderHTML(html)
	for _, gone := range []string{"111111", "222222", "333333", "444444", "555555", "var a", "color", "T\n"} {
		if strings.Contains(r.text, gone) {
			t.Errorf("rendered text holds %q:\n%s", gone, r.text)
		}
	}
	for _, kept := range []string{"Welcome", "First para.\nSecond line.", "Code 739142\nRow 2 x", "Verify email", "shown inside zero-size container", "> quoted line"} {
		if !strings.Contains(r.text, kept) {
			t.Errorf("rendered text lacks %q:\n%s", kept, r.text)
		}
	}
	if len(r.links) != 2 || r.links[0].url != "https://ex.example/verify?t=abc" || r.links[0].text != "Verify email" || !r.links[1].pixel {
		t.Errorf("links %+v", r.links)
	}
	found := false
	for _, e := range r.emph {
		if e == "739142" {
			found = true
		}
	}
	if !found {
		t.Errorf("emph %q", r.emph)
	}
	// A pathologically deep document renders without blowing the stack.
	deep := strings.Repeat("<div>", 200000) + "deep text" + strings.Repeat("</div>", 200000)
	_ = RenderHTML(deep)
}
