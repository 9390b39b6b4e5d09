package imagefs

// node is one path of the squashed view. entry is nil for a directory that no layer
// declares but that holds declared entries.
type node struct {
	entry    *Entry
	children map[string]*node
}

func (n *node) child(name string) *node {
	if n.children == nil {
		return nil
	}
	return n.children[name]
}

// lookupNode finds p in the tree without following links.
func (n *node) lookupNode(p string) *node {
	cur := n
	for _, c := range splitPath(p) {
		cur = cur.child(c)
		if cur == nil {
			return nil
		}
	}
	return cur
}

// ensure returns the node for path components comps, creating missing ones. An ancestor
// that a lower layer declared as a non-directory becomes an undeclared directory, as it
// does when a runtime unpacks the layer over it.
func (n *node) ensure(comps []string) *node {
	cur := n
	for _, c := range comps {
		if cur.entry != nil && cur.entry.Type != TypeDir {
			cur.entry = nil
		}
		next := cur.child(c)
		if next == nil {
			if cur.children == nil {
				cur.children = map[string]*node{}
			}
			next = &node{}
			cur.children[c] = next
		}
		cur = next
	}
	return cur
}

// remove deletes the subtree at comps, if any.
func (n *node) remove(comps []string) {
	if len(comps) == 0 {
		return
	}
	parent := n
	for _, c := range comps[:len(comps)-1] {
		parent = parent.child(c)
		if parent == nil {
			return
		}
	}
	if parent.children != nil {
		delete(parent.children, comps[len(comps)-1])
	}
}

// walk calls fn for every node under n (n first), with its path, in no particular order.
func (n *node) walk(p string, fn func(p string, n *node)) {
	fn(p, n)
	for name, c := range n.children {
		cp := p + "/" + name
		if p == "/" {
			cp = "/" + name
		}
		c.walk(cp, fn)
	}
}
