package api

import (
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// TestResponsesAreNotModels type-checks the handlers and fails if a value
// a handler writes as JSON (c.JSON and friends) is, holds or embeds a
// database model: a struct type of another package with a gorm tag on a
// field. The API's responses are its own types (responses.go), so that the
// schema is not the API.
func TestResponsesAreNotModels(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go tool to read the dependencies' export data:", err)
	}
	out, err := exec.Command("go", "list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -export: %v", err)
	}
	exports := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, file, ok := strings.Cut(line, "\t"); ok && file != "" {
			exports[path] = file
		}
	}
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range entries {
		if name := e.Name(); strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
	}
	conf := types.Config{Importer: importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		return os.Open(exports[path])
	})}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}}
	pkg, err := conf.Check("github.com/yubinmail/yubin/api", fset, files, info)
	if err != nil {
		t.Fatalf("type-check the api package: %v", err)
	}

	// Every value written as JSON: the body of c.JSON and friends, and
	// every value put in a gin.H (a literal, or m[key] = v).
	writers := map[string]bool{"JSON": true, "IndentedJSON": true, "PureJSON": true, "AbortWithStatusJSON": true, "SecureJSON": true}
	var bodies []ast.Expr
	calls := 0
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if ok && len(n.Args) == 2 && writers[sel.Sel.Name] && isGinContext(info.TypeOf(sel.X)) {
					calls++
					bodies = append(bodies, n.Args[1])
				}
			case *ast.CompositeLit:
				if isGinH(info.TypeOf(n)) {
					for _, e := range n.Elts {
						if kv, ok := e.(*ast.KeyValueExpr); ok {
							bodies = append(bodies, kv.Value)
						}
					}
				}
			case *ast.AssignStmt:
				for i, lhs := range n.Lhs {
					if ix, ok := lhs.(*ast.IndexExpr); ok && isGinH(info.TypeOf(ix.X)) && i < len(n.Rhs) {
						bodies = append(bodies, n.Rhs[i])
					}
				}
			}
			return true
		})
	}
	for _, e := range bodies {
		model := findModel(info.TypeOf(e), pkg, map[types.Type]bool{})
		if model == "" {
			continue
		}
		t.Errorf("%s: the response holds the database model %s", fset.Position(e.Pos()), model)
	}
	if calls < 20 {
		t.Fatalf("found only %d JSON responses: the check does not see the handlers", calls)
	}
}

// isGinH reports whether t is gin.H.
func isGinH(t types.Type) bool {
	n, ok := t.(*types.Named)
	return ok && n.Obj().Name() == "H" && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "github.com/gin-gonic/gin"
}

// isGinContext reports whether t is *gin.Context.
func isGinContext(t types.Type) bool {
	p, ok := t.(*types.Pointer)
	if !ok {
		return false
	}
	n, ok := p.Elem().(*types.Named)
	return ok && n.Obj().Name() == "Context" && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "github.com/gin-gonic/gin"
}

// findModel returns the name of a database model t is or holds (through
// pointers, slices, maps and struct fields JSON encodes), or "".
func findModel(t types.Type, self *types.Package, seen map[types.Type]bool) string {
	if t == nil || seen[t] {
		return ""
	}
	seen[t] = true
	switch u := t.(type) {
	case *types.Pointer:
		return findModel(u.Elem(), self, seen)
	case *types.Slice:
		return findModel(u.Elem(), self, seen)
	case *types.Array:
		return findModel(u.Elem(), self, seen)
	case *types.Map:
		return findModel(u.Elem(), self, seen)
	case *types.Named, *types.Alias:
		obj := u.(interface{ Obj() *types.TypeName }).Obj()
		if st, ok := t.Underlying().(*types.Struct); ok && obj.Pkg() != nil && obj.Pkg() != self && hasGormTag(st) {
			return obj.Pkg().Path() + "." + obj.Name()
		}
		return findModel(t.Underlying(), self, seen)
	case *types.Struct:
		for i := range u.NumFields() {
			f := u.Field(i)
			if !f.Exported() && !f.Embedded() {
				continue
			}
			if reflect.StructTag(u.Tag(i)).Get("json") == "-" {
				continue
			}
			if m := findModel(f.Type(), self, seen); m != "" {
				return m
			}
		}
	}
	return ""
}

// hasGormTag reports whether a field of st has a gorm tag.
func hasGormTag(st *types.Struct) bool {
	for i := range st.NumFields() {
		if _, ok := reflect.StructTag(st.Tag(i)).Lookup("gorm"); ok {
			return true
		}
	}
	return false
}
