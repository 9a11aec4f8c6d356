/* Intrusive red-black tree. Nodes live inside caller structs, so the tree
 * never allocates and can be used inside the allocator itself. */
#ifndef XALLOC_RBTREE_H
#define XALLOC_RBTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct xa_rb_node {
    struct xa_rb_node *left, *right;
    uintptr_t parent_color; /* parent pointer | color in bit 0 (1 = red) */
} xa_rb_node;

/* <0, 0, >0 like strcmp. Equal keys are allowed; a new node goes after
 * the nodes that compare equal to it. */
typedef int (*xa_rb_cmp_fn)(const xa_rb_node *a, const xa_rb_node *b);

typedef struct xa_rb_tree {
    xa_rb_node *root;
    xa_rb_cmp_fn cmp;
} xa_rb_tree;

void xa_rb_init(xa_rb_tree *t, xa_rb_cmp_fn cmp);
static inline bool xa_rb_empty(const xa_rb_tree *t) { return t->root == NULL; }
void xa_rb_insert(xa_rb_tree *t, xa_rb_node *n);
void xa_rb_remove(xa_rb_tree *t, xa_rb_node *n);
xa_rb_node *xa_rb_first(const xa_rb_tree *t);  /* smallest, or NULL */
xa_rb_node *xa_rb_last(const xa_rb_tree *t);
xa_rb_node *xa_rb_next(const xa_rb_node *n);   /* in-order successor or NULL */
xa_rb_node *xa_rb_prev(const xa_rb_node *n);
/* key is any node (often a stack-allocated probe in a struct) compared with
 * t->cmp. With duplicates both return the first of the equal nodes. */
xa_rb_node *xa_rb_find(const xa_rb_tree *t, const xa_rb_node *key);        /* equal node or NULL */
xa_rb_node *xa_rb_lower_bound(const xa_rb_tree *t, const xa_rb_node *key); /* first node >= key or NULL */
/* Checks all red-black invariants and parent links, returns black height or
 * -1 when broken. O(n), for tests. */
int xa_rb_check(const xa_rb_tree *t);

#define xa_rb_entry(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#endif
