/* Red-black tree without sentinel nodes or recursion: it runs inside malloc,
 * so stack depth and allocation must stay bounded and explicit. */
#include "rbtree.h"

#define RED ((uintptr_t)1)

static inline xa_rb_node *parent(const xa_rb_node *n)
{
    return (xa_rb_node *)(n->parent_color & ~RED);
}

/* NULL leaves count as black. */
static inline bool red(const xa_rb_node *n) { return n && (n->parent_color & RED); }

static inline void set_parent(xa_rb_node *n, xa_rb_node *p)
{
    n->parent_color = (uintptr_t)p | (n->parent_color & RED);
}

static inline void set_red(xa_rb_node *n) { n->parent_color |= RED; }
static inline void set_black(xa_rb_node *n) { n->parent_color &= ~RED; }

/* Point whatever referenced old (p's child slot or the root) at new. */
static inline void replace(xa_rb_tree *t, xa_rb_node *p, xa_rb_node *old, xa_rb_node *new)
{
    if (!p)
        t->root = new;
    else if (p->left == old)
        p->left = new;
    else
        p->right = new;
}

static void rotate_left(xa_rb_tree *t, xa_rb_node *x)
{
    xa_rb_node *y = x->right, *p = parent(x);

    x->right = y->left;
    if (y->left)
        set_parent(y->left, x);
    set_parent(y, p);
    replace(t, p, x, y);
    y->left = x;
    set_parent(x, y);
}

static void rotate_right(xa_rb_tree *t, xa_rb_node *x)
{
    xa_rb_node *y = x->left, *p = parent(x);

    x->left = y->right;
    if (y->right)
        set_parent(y->right, x);
    set_parent(y, p);
    replace(t, p, x, y);
    y->right = x;
    set_parent(x, y);
}

void xa_rb_init(xa_rb_tree *t, xa_rb_cmp_fn cmp)
{
    t->root = NULL;
    t->cmp = cmp;
}

void xa_rb_insert(xa_rb_tree *t, xa_rb_node *n)
{
    xa_rb_node *p = NULL, **link = &t->root;

    /* Ties go right so equal keys keep insertion order. */
    while (*link) {
        p = *link;
        link = t->cmp(n, p) < 0 ? &p->left : &p->right;
    }
    n->left = n->right = NULL;
    n->parent_color = (uintptr_t)p | RED;
    *link = n;

    /* Only a red node under a red parent breaks anything; the parent is
     * red so it is not the root and the grandparent exists. */
    while ((p = parent(n)) && red(p)) {
        xa_rb_node *g = parent(p);

        if (p == g->left) {
            xa_rb_node *u = g->right;
            if (red(u)) {
                /* Push the redness up and retry from the grandparent. */
                set_black(p);
                set_black(u);
                set_red(g);
                n = g;
                continue;
            }
            if (n == p->right) {
                rotate_left(t, p);
                n = p;
                p = parent(n);
            }
            set_black(p);
            set_red(g);
            rotate_right(t, g);
        } else {
            xa_rb_node *u = g->left;
            if (red(u)) {
                set_black(p);
                set_black(u);
                set_red(g);
                n = g;
                continue;
            }
            if (n == p->left) {
                rotate_right(t, p);
                n = p;
                p = parent(n);
            }
            set_black(p);
            set_red(g);
            rotate_left(t, g);
        }
        break;
    }
    set_black(t->root);
}

/* x (possibly NULL) under p carries one black too few on its side. */
static void remove_fixup(xa_rb_tree *t, xa_rb_node *x, xa_rb_node *p)
{
    while (x != t->root && !red(x)) {
        /* x may be NULL, so identify its side via p; the sibling is never
         * NULL because its side holds at least one black node. */
        if (x == p->left) {
            xa_rb_node *w = p->right;
            if (red(w)) {
                set_black(w);
                set_red(p);
                rotate_left(t, p);
                w = p->right;
            }
            if (!red(w->left) && !red(w->right)) {
                set_red(w);
                x = p;
                p = parent(x);
                continue;
            }
            if (!red(w->right)) {
                set_black(w->left);
                set_red(w);
                rotate_right(t, w);
                w = p->right;
            }
            w->parent_color = (w->parent_color & ~RED) | (p->parent_color & RED);
            set_black(p);
            set_black(w->right);
            rotate_left(t, p);
        } else {
            xa_rb_node *w = p->left;
            if (red(w)) {
                set_black(w);
                set_red(p);
                rotate_right(t, p);
                w = p->left;
            }
            if (!red(w->left) && !red(w->right)) {
                set_red(w);
                x = p;
                p = parent(x);
                continue;
            }
            if (!red(w->left)) {
                set_black(w->right);
                set_red(w);
                rotate_left(t, w);
                w = p->left;
            }
            w->parent_color = (w->parent_color & ~RED) | (p->parent_color & RED);
            set_black(p);
            set_black(w->left);
            rotate_right(t, p);
        }
        return;
    }
    if (x)
        set_black(x);
}

void xa_rb_remove(xa_rb_tree *t, xa_rb_node *n)
{
    xa_rb_node *child, *p;
    bool was_black;

    if (!n->left || !n->right) {
        child = n->left ? n->left : n->right;
        p = parent(n);
        was_black = !red(n);
        if (child)
            set_parent(child, p);
        replace(t, p, n, child);
    } else {
        /* Two children: the successor y takes n's place and colour, so the
         * black deficit is wherever y used to be. */
        xa_rb_node *y = n->right;
        while (y->left)
            y = y->left;
        was_black = !red(y);
        child = y->right;
        if (parent(y) == n) {
            p = y;
        } else {
            p = parent(y);
            p->left = child;
            if (child)
                set_parent(child, p);
            y->right = n->right;
            set_parent(n->right, y);
        }
        y->left = n->left;
        set_parent(n->left, y);
        replace(t, parent(n), n, y);
        y->parent_color = n->parent_color;
    }
    if (was_black)
        remove_fixup(t, child, p);
}

xa_rb_node *xa_rb_first(const xa_rb_tree *t)
{
    xa_rb_node *n = t->root;

    if (n)
        while (n->left)
            n = n->left;
    return n;
}

xa_rb_node *xa_rb_last(const xa_rb_tree *t)
{
    xa_rb_node *n = t->root;

    if (n)
        while (n->right)
            n = n->right;
    return n;
}

xa_rb_node *xa_rb_next(const xa_rb_node *n)
{
    xa_rb_node *p;

    if (n->right) {
        n = n->right;
        while (n->left)
            n = n->left;
        return (xa_rb_node *)n;
    }
    /* Climb until we come up from a left child. */
    while ((p = parent(n)) && n == p->right)
        n = p;
    return p;
}

xa_rb_node *xa_rb_prev(const xa_rb_node *n)
{
    xa_rb_node *p;

    if (n->left) {
        n = n->left;
        while (n->right)
            n = n->right;
        return (xa_rb_node *)n;
    }
    while ((p = parent(n)) && n == p->left)
        n = p;
    return p;
}

xa_rb_node *xa_rb_lower_bound(const xa_rb_tree *t, const xa_rb_node *key)
{
    xa_rb_node *n = t->root, *best = NULL;

    while (n) {
        if (t->cmp(n, key) >= 0) {
            best = n;
            n = n->left;
        } else {
            n = n->right;
        }
    }
    return best;
}

xa_rb_node *xa_rb_find(const xa_rb_tree *t, const xa_rb_node *key)
{
    /* Via lower_bound so duplicates give a deterministic (first) match. */
    xa_rb_node *n = xa_rb_lower_bound(t, key);

    return n && t->cmp(n, key) == 0 ? n : NULL;
}

int xa_rb_check(const xa_rb_tree *t)
{
    enum { DOWN, LEFT_DONE, UP } state = DOWN;
    const xa_rb_node *n = t->root, *prev = NULL;
    int blacks, bh = -1;

    if (!n)
        return 0;
    if (parent(n) || red(n))
        return -1;
    blacks = 1;

    /* Iterative walk. A child is entered only after its parent link is
     * verified, so climbing back through parent() is safe even on a
     * corrupted tree. */
    for (;;) {
        if (state == DOWN) {
            if (n->left && n->left == n->right)
                return -1;
            if (n->left && (parent(n->left) != n || (red(n) && red(n->left))))
                return -1;
            if (n->right && (parent(n->right) != n || (red(n) && red(n->right))))
                return -1;
            /* Every NULL leaf must see the same number of blacks. */
            if (!n->left || !n->right) {
                if (bh < 0)
                    bh = blacks;
                else if (bh != blacks)
                    return -1;
            }
            if (n->left) {
                n = n->left;
                blacks += !red(n);
                continue;
            }
            state = LEFT_DONE;
        }
        if (state == LEFT_DONE) {
            if (prev && t->cmp(prev, n) > 0)
                return -1;
            prev = n;
            if (n->right) {
                n = n->right;
                blacks += !red(n);
                state = DOWN;
                continue;
            }
        }
        const xa_rb_node *c = n;
        blacks -= !red(n);
        n = parent(n);
        if (!n)
            return bh;
        state = c == n->left ? LEFT_DONE : UP;
    }
}
