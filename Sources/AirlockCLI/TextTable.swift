/// A plain text table: a header row and rows, columns padded to their widest cell, two spaces
/// between columns, the last column unpadded so lines carry no trailing blanks.
struct TextTable {
    let header: [String]
    private(set) var rows: [[String]] = []

    init(_ header: [String]) { self.header = header }

    /// Adds a row; it must have one cell per header column.
    mutating func add(_ row: [String]) {
        precondition(row.count == header.count, "a row needs \(header.count) cells, got \(row.count)")
        rows.append(row)
    }

    /// The table, each line prefixed by `indent`, with a final newline.
    func render(indent: String = "  ") -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        var out = ""
        for row in [header] + rows {
            var line = indent
            for (i, cell) in row.enumerated() {
                line += cell
                if i < row.count - 1 { line += String(repeating: " ", count: widths[i] - cell.count + 2) }
            }
            while line.last == " " { line.removeLast() }
            out += line + "\n"
        }
        return out
    }
}
