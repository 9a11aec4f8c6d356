# Perl workload for the LD_PRELOAD program tests: a large hash of strings
# grown by appending, nested structures, regexes, sorts and deletes.
# Prints only values that depend on the input, sorted where order matters.
use strict;
use warnings;

my $n = shift // 150000;
my (%h, %groups, @list);
my $x = 1;
for my $i (1 .. $n) {
    $x = ($x * 1103515245 + 12345) % 2147483648;
    my $k = sprintf("%08x-%d", $x, $i % 977);
    $h{$k} .= chr(65 + $i % 26) x (1 + $x % 5);
    push @{ $groups{ $x % 1013 } }, $i;
    push @list, { id => $i, name => "item$x", tags => [ map { $_ * $i } 1 .. $x % 6 ] }
        if $i % 7 == 0;
}
print "keys ", scalar(keys %h), "\n";

# Sort by value then key, and digest the whole sorted listing.
my @keys = sort { $h{$a} cmp $h{$b} or $a cmp $b } keys %h;
my ($sum, $len) = (0, 0);
for my $k (@keys) {
    $len += length $h{$k};
    $sum = ($sum * 31 + unpack("%32C*", $k . $h{$k})) % 4294967291;
}
print "sorted first $keys[0] last $keys[-1] len $len sum $sum\n";

# Regex rewriting into a new hash; deleting half of the old one.
my %r;
while (my ($k, $v) = each %h) {
    (my $nk = $k) =~ s/([0-9a-f]{2})/uc($1) . ":"/ge;
    $r{$nk} = length($v) if $v =~ /^(?:A|E|I|O|U)/;
}
delete @h{ grep { hex(substr($_, 0, 8)) % 2 } keys %h };
print "rewritten ", scalar(keys %r), " remaining ", scalar(keys %h), "\n";

# Group statistics, numeric sorts, splices, joins.
my @big = sort { @{ $groups{$b} } <=> @{ $groups{$a} } or $a <=> $b } keys %groups;
print "largest groups: ", join(",", map { "$_:" . scalar @{ $groups{$_} } } @big[0 .. 4]), "\n";
my @ids = map { $_->{id} } sort { $a->{name} cmp $b->{name} or $a->{id} <=> $b->{id} } @list;
splice(@ids, 100, 1000, reverse @ids[0 .. 99]) if @ids > 1200;
my $tags = 0;
$tags += @{ $_->{tags} } for @list;
print "list ", scalar(@list), " ids ", scalar(@ids), " tags $tags head ", join(" ", @ids[0 .. 9]), "\n";
my $joined = join("", map { $h{$_} } sort keys %h);
my $c = () = $joined =~ /(?:B+D|FF)/g;
print "joined length ", length($joined), " B+D/FF count $c\n";
