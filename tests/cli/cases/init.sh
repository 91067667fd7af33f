# init: a new repository, an existing one, DIR relative to -C, a directory that is not one.
run cairn init repo
run cairn init repo
run cairn -C repo tables
mkdir outer
run cairn -C outer init inner
run cairn -C outer/inner tables
say in the current directory: an empty one, then one that holds other files
mkdir fresh && cd fresh && run cairn init && run cairn tables && cd ..
run cairn init
run cairn tables
mkdir notrepo && echo hello > notrepo/file
run cairn init notrepo
echo data > afile
run cairn init afile
