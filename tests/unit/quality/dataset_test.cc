#include "quality/dataset.h"

#include <gtest/gtest.h>

#include <string>

namespace quiver::quality {
namespace {

std::string error_of(const Result<Dataset>& r) { return r.is_ok() ? "(ok)" : r.status().message(); }

TEST(DatasetTest, CsvFeaturesInFileOrderAndTheLastColumnAsLabel) {
  auto ds = parse_dataset("a,b,species\n1,2,0\n3.5,-4e1,setosa\n", std::nullopt);
  ASSERT_TRUE(ds.is_ok()) << error_of(ds);
  EXPECT_EQ(ds->format, "csv");
  EXPECT_EQ(ds->label, "species");
  EXPECT_EQ(ds->features, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(ds->inputs.size(), 1u);
  EXPECT_EQ(ds->inputs[0].name, "");
  EXPECT_EQ(ds->inputs[0].row_shape, (Shape{2}));
  EXPECT_EQ(ds->inputs[0].values, (std::vector<float>{1, 2, 3.5f, -40}));
  ASSERT_EQ(ds->rows(), 2u);
  EXPECT_TRUE(ds->truths[0].is_number);
  EXPECT_EQ(ds->truths[0].number, 0);
  EXPECT_FALSE(ds->truths[1].is_number);
  EXPECT_EQ(ds->truths[1].text, "setosa");
  EXPECT_EQ(ds->lines, (std::vector<int64_t>{2, 3}));
}

TEST(DatasetTest, CsvNamedLabelQuotingCrlfBomAndBlankLines) {
  const std::string text =
      "\xEF\xBB\xBF" "x,\"the label\",y\r\n"
      "\r\n"
      " 1 ,\"Iris, \"\"setosa\"\"\", +2\r\n"
      "3,b,4\r\n"
      "\r\n";
  auto ds = parse_csv(text, std::string("the label"));
  ASSERT_TRUE(ds.is_ok()) << error_of(ds);
  EXPECT_EQ(ds->features, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(ds->inputs[0].values, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(ds->truths[0].text, "Iris, \"setosa\"");
  EXPECT_EQ(ds->lines, (std::vector<int64_t>{3, 4}));
}

TEST(DatasetTest, CsvErrorsNameTheLineAndColumn) {
  EXPECT_EQ(error_of(parse_csv("a,b,c\n1,2,0\n1,x,0\n", std::nullopt)), "line 3, column 'b': 'x' is not a number");
  EXPECT_EQ(error_of(parse_csv("a,b,c\n1,2\n", std::nullopt)), "line 2: 2 fields, but the header has 3");
  EXPECT_EQ(error_of(parse_csv("a,b,c\n1,,0\n", std::nullopt)), "line 2, column 'b': empty value");
  EXPECT_EQ(error_of(parse_csv("a,b,c\n1,2,\n", std::nullopt)), "line 2, column 'c': empty value");
  EXPECT_EQ(error_of(parse_csv("a,b,c\n1,nan,0\n", std::nullopt)),
            "line 2, column 'b': 'nan' is not a finite FP32 number");
  EXPECT_EQ(error_of(parse_csv("a,b\n1,\"2\n", std::nullopt)),
            "line 2, field 2: unterminated quoted field (a field cannot span lines)");
  EXPECT_EQ(error_of(parse_csv("a,b,c\n", std::nullopt)), "the dataset has a header but no rows");
  EXPECT_EQ(error_of(parse_csv("a,a,c\n1,2,3\n", std::nullopt)), "line 1: column 'a' appears twice in the header");
  EXPECT_EQ(error_of(parse_csv("label\n1\n", std::nullopt)),
            "line 1: the header needs a label column and at least one feature column");
  EXPECT_EQ(error_of(parse_csv("a,b\n1,2\n", std::string("species"))),
            "label column 'species' is not in the header (columns: a, b)");
  EXPECT_EQ(error_of(parse_dataset("  \n\n", std::nullopt)), "the dataset is empty");
}

TEST(DatasetTest, JsonLinesWithFeatures) {
  auto ds = parse_dataset(
      "\n{\"features\": [1, 2.5], \"label\": 1}\n{\"features\": [3, 4], \"label\": \"b\", \"x\": 0}\n", std::nullopt);
  ASSERT_TRUE(ds.is_ok()) << error_of(ds);
  EXPECT_EQ(ds->format, "jsonl");
  EXPECT_EQ(ds->label, "label");
  ASSERT_EQ(ds->inputs.size(), 1u);
  EXPECT_EQ(ds->inputs[0].name, "");
  EXPECT_EQ(ds->inputs[0].values, (std::vector<float>{1, 2.5f, 3, 4}));
  EXPECT_EQ(ds->lines, (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(ds->truths[0].is_number);
  EXPECT_EQ(ds->truths[1].text, "b");
}

TEST(DatasetTest, JsonLinesWithNamedNestedInputs) {
  auto ds = parse_json_lines(
      "{\"inputs\": {\"img\": [[1, 2], [3, 4]], \"extra\": [9]}, \"y\": 0.5}\n"
      "{\"inputs\": {\"extra\": [8], \"img\": [[5, 6], [7, 8]]}, \"y\": 1.5}\n",
      std::string("y"));
  ASSERT_TRUE(ds.is_ok()) << error_of(ds);
  ASSERT_EQ(ds->inputs.size(), 2u);
  EXPECT_EQ(ds->inputs[0].name, "extra");
  EXPECT_EQ(ds->inputs[0].values, (std::vector<float>{9, 8}));
  EXPECT_EQ(ds->inputs[1].name, "img");
  EXPECT_EQ(ds->inputs[1].row_shape, (Shape{2, 2}));
  EXPECT_EQ(ds->inputs[1].row_size, 4u);
  EXPECT_EQ(ds->inputs[1].values, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(DatasetTest, JsonLinesErrorsNameTheLine) {
  const std::optional<std::string> none;
  EXPECT_EQ(error_of(parse_json_lines("{\"features\": [1], \"label\": 0}\n{oops\n", none)), "line 2: not valid JSON");
  EXPECT_EQ(error_of(parse_json_lines(
                "{\"features\": [1, 2], \"label\": 0}\n{\"features\": [1], \"label\": 0}\n", none)),
            "line 2: \"features\" has shape [1], but line 1 has [2]");
  EXPECT_EQ(error_of(parse_json_lines("{\"features\": [1]}\n", none)), "line 1: no \"label\" key (the label)");
  EXPECT_EQ(error_of(parse_json_lines("{\"features\": [1, \"a\"], \"label\": 0}\n", none)),
            "line 1: \"features\" holds string \"a\", not a number");
  EXPECT_EQ(error_of(parse_json_lines("{\"features\": [[1, 2], [3]], \"label\": 0}\n", none)),
            "line 1: \"features\" is not rectangular (expected shape [2, 2])");
  EXPECT_EQ(error_of(parse_json_lines("{\"features\": [1], \"label\": true}\n", none)),
            "line 1: \"label\" must be a number or a string, not boolean");
  EXPECT_EQ(error_of(parse_json_lines("{\"label\": 1}\n", none)),
            "line 1: needs exactly one of \"features\" (an array) or \"inputs\" (an object)");
  EXPECT_EQ(error_of(parse_json_lines("{\"features\": [1], \"label\": 0}\n{\"inputs\": {\"a\": [1]}, \"label\": 0}\n",
                                      none)),
            "line 2: uses \"inputs\" but line 1 uses \"features\"");
  EXPECT_EQ(error_of(parse_json_lines("[1, 2]\n", none)), "line 1: each line must be a JSON object");
}

}  // namespace
}  // namespace quiver::quality
