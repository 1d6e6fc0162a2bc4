package dataset_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/lrsp/lrsp/dataset"
)

func ExampleReadCSV() {
	const data = `user,age,income,y
alice,31,2.5,1.2
bob,45,3.1,0.7
alice,32,2.6,1.3
`
	ds, err := dataset.ReadCSV(context.Background(), strings.NewReader(data), "people.csv", dataset.CSVOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("features:", ds.Features)
	for _, u := range ds.Users {
		fmt.Printf("%s: %d samples, x %v, y %v, input rows %v\n", u.ID, u.Len(), u.X, u.Y, u.Rows)
	}

	// Bad input is an error naming the file, line and column.
	_, err = dataset.ReadCSV(context.Background(), strings.NewReader("user,age,y\nalice,31,1\nbob,forty,2\n"),
		"people.csv", dataset.CSVOptions{})
	fmt.Println(err)
	// Output:
	// features: [age income]
	// alice: 2 samples, x [31 2.5 32 2.6], y [1.2 1.3], input rows [0 2]
	// bob: 1 samples, x [45 3.1], y [0.7], input rows [1]
	// dataset: people.csv:3: column "age": bad number "forty"
}

func ExampleReadCSV_columns() {
	const data = "id,a,b,c,label\nu1,1,2,3,0.5\n"
	ds, err := dataset.ReadCSV(context.Background(), strings.NewReader(data), "data.csv",
		dataset.CSVOptions{UserColumn: "id", TargetColumn: "label", Features: []string{"c", "a"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ds.Features, ds.Users[0].X, ds.Users[0].Y)
	// Output: [c a] [3 1] [0.5]
}

func ExampleWriteCSV() {
	b := dataset.NewBuilder([]string{"x0", "x1"}, true)
	b.Add("u1", []float64{0.1, 1.0 / 3}, 2, 0)
	b.Add("u2", []float64{-1, 1e-20}, 3, 1)
	b.Add("u1", []float64{5, 6}, 7, 2)
	if err := dataset.WriteCSV(os.Stdout, b.Dataset()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// user,x0,x1,y
	// u1,0.1,0.3333333333333333,2
	// u2,-1,1e-20,3
	// u1,5,6,7
}

func ExampleSplit() {
	b := dataset.NewBuilder([]string{"x"}, true)
	for row := 0; row < 10; row++ {
		b.Add("u", []float64{float64(row)}, 0, row)
	}
	train, held, err := dataset.Split(b.Dataset(), 0.3, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(train.Samples(), "training samples,", held.Samples(), "held out")
	// Output: 7 training samples, 3 held out
}
