import Foundation
import HTTPTypes
import Hummingbird
import VigilCore

/// How API bodies are written: keys sorted (stable output for clients that diff or sign it),
/// slashes unescaped, times as RFC 3339 UTC with milliseconds, nil fields left out.
enum APIJSON {
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.string(date))
        }
        return encoder
    }

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = Timestamp.parse(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a time: \(text)"))
            }
            return date
        }
        return decoder
    }

    static func text<T: Encodable>(_ body: T) throws -> String {
        String(decoding: try encoder().encode(body), as: UTF8.self)
    }
}

/// A JSON response with an API body.
func json<T: Encodable>(_ status: HTTPResponse.Status, _ body: T) throws -> Response {
    Response(status: status, headers: [.contentType: "application/json"],
             body: .init(byteBuffer: ByteBuffer(bytes: try APIJSON.encoder().encode(body))))
}
