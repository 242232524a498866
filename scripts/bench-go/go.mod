module gort.invalid/benchgo

go 1.23
