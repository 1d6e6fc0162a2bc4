package dataset_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/lrsp/lrsp/dataset"
)

func ExampleReadParquetFile() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	// Write a small Parquet file with integer user IDs, as a warehouse
	// export might.
	type sample struct {
		User   int64   `parquet:"user"`
		Age    int32   `parquet:"age"`
		Income float32 `parquet:"income"`
		Y      float64 `parquet:"y"`
	}
	path := filepath.Join(dir, "people.parquet")
	rows := []sample{{7, 31, 2.5, 1.2}, {9, 45, 3.25, 0.7}, {7, 32, 2.75, 1.3}}
	if err := parquet.WriteFile(path, rows); err != nil {
		fmt.Println(err)
		return
	}

	ds, err := dataset.ReadParquetFile(context.Background(), path, dataset.CSVOptions{RequireTarget: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("features:", ds.Features)
	for _, u := range ds.Users {
		fmt.Printf("user %s: x %v, y %v, input rows %v\n", u.ID, u.X, u.Y, u.Rows)
	}

	// A string feature column is an error naming the file and column.
	type bad struct {
		User string `parquet:"user"`
		Age  string `parquet:"age"`
	}
	if err := parquet.WriteFile(path, []bad{{"alice", "31"}}); err != nil {
		fmt.Println(err)
		return
	}
	_, err = dataset.ReadParquetFile(context.Background(), path, dataset.CSVOptions{})
	fmt.Println(strings.Replace(err.Error(), dir+string(filepath.Separator), "", 1))
	// Output:
	// features: [age income]
	// user 7: x [31 2.5 32 2.75], y [1.2 1.3], input rows [0 2]
	// user 9: x [45 3.25], y [0.7], input rows [1]
	// dataset: people.parquet: column "age": type STRING holds strings; feature and target columns must be numeric (INT32, INT64, FLOAT, DOUBLE or BOOLEAN)
}
