// Fixture for function_lengths_test.sh: what the checker must and must not count.
namespace fixture {
namespace {

// Eight lines, brace to brace.
int Short(int x) {
  int y = x;
  y += 1;
  y += 2;
  y += 3;
  y += 4;
  return y;
}

}  // namespace

class Widget {
 public:
  // An inline member of 7 lines.
  int Inline() const {
    int total = 0;
    for (int i = 0; i < 3; ++i) {
      total += i;
    }
    return total;
  }
};

// A multi-line signature; 11 lines from its brace; a brace inside a string and a comment {.
int Long(int a,
         int b) {
  const char* text = "{{{ not a brace";
  int sum = a + b;  // } nor this
  if (sum > 0) {
    sum += 1;
  }
  auto lambda = [&](int v) {
    return v + sum;
  };
  return lambda(sum) + text[0];
}

const int kTable[] = {
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
};

}  // namespace fixture
