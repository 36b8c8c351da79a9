import Testing
@testable import AirlockPolicy

@Suite struct PunycodeTests {
    func encode(_ text: String) -> String? { Punycode.encode(Array(text.unicodeScalars)) }

    /// The sample strings of RFC 3492 §7.1, each letter as in the RFC. (F) Hindi is left out;
    /// (D), (J), (K), (L), (M), (N) and (P) keep their uppercase basic code points, which the
    /// encoder copies as given.
    @Test(arguments: [
        ("B", "他们为什么不说中文", "ihqwcrb4cv8a8dqg056pqjye"),
        ("C", "他們爲什麽不說中文", "ihqwctvzc91f659drss3x8bo0yb"),
        ("D", "Pročprostěnemluvíčesky", "Proprostnemluvesky-uyb24dma41a"),
        ("E", "למההםפשוטלאמדבריםעברית", "4dbcagdahymbxekheh6e0a7fei0b"),
        ("G", "なぜみんな日本語を話してくれないのか", "n8jok5ay5dzabd5bym9f0cm5685rrjetr6pdxa"),
        ("H", "세계의모든사람들이한국어를이해한다면얼마나좋을까", "989aomsvi5e83db1d2a355cv1e0vak1dwrv93d5xbh15a0dt30a5jpsd879ccm6fea98c"),
        ("I", "почемужеонинеговорятпорусски", "b1abfaaepdrnnbgefbadotcwatmq2g4l"),
        ("J", "PorquénopuedensimplementehablarenEspañol", "PorqunopuedensimplementehablarenEspaol-fmd56a"),
        ("K", "TạisaohọkhôngthểchỉnóitiếngViệt", "TisaohkhngthchnitingVit-kjcr8268qyxafd2f1b9g"),
        ("L", "3年B組金八先生", "3B-ww4c5e180e575a65lsy2b"),
        ("M", "安室奈美恵-with-SUPER-MONKEYS", "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n"),
        ("N", "Hello-Another-Way-それぞれの場所", "Hello-Another-Way--fc4qua05auwb3674vfr0b"),
        ("O", "ひとつ屋根の下2", "2-u9tlzr9756bt3uc0v"),
        ("P", "MajiでKoiする5秒前", "MajiKoi5-783gue6qz075azm5e"),
        ("Q", "パフィーdeルンバ", "de-jg4avhby1noc0d"),
        ("R", "そのスピードで", "d9juau41awczczp"),
        ("S", "-> $1.00 <-", "-> $1.00 <--"),
    ])
    func encodesRFC3492Samples(letter: String, text: String, encoded: String) {
        #expect(encode(text) == encoded, "sample \(letter)")
    }

    @Test func encodesRFC3492ArabicSample() {
        // (A) Arabic (Egyptian), given in the RFC as code points.
        let points: [UInt32] = [0x0644, 0x064A, 0x0647, 0x0645, 0x0627, 0x0628, 0x062A, 0x0643, 0x0644,
                                0x0645, 0x0648, 0x0634, 0x0639, 0x0631, 0x0628, 0x064A, 0x061F]
        #expect(Punycode.encode(points.map { Unicode.Scalar($0)! }) == "egbpdaj6bu4bxfgehfvwxn")
    }

    @Test func encodesShortLabels() {
        #expect(encode("") == "")
        #expect(encode("abc") == "abc-")
        #expect(encode("ü") == "tda")
        #expect(encode("bücher") == "bcher-kva")
        #expect(encode("straße") == "strae-oqa")
        #expect(encode("例え") == "r8jz45g")
        #expect(encode("テスト") == "zckzah")
        #expect(encode("\u{10FFFF}") != nil, "the highest code point fits in 32 bits")
    }
}
