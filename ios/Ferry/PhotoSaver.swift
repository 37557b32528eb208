import Foundation
import Photos
import UniformTypeIdentifiers

/// Adds received photos and videos to the photo library (add-only access: Ferry never reads it).
enum PhotoSaver {
    enum Failure: LocalizedError {
        case notAllowed

        var errorDescription: String? {
            "Ferry may not add to your photo library. Allow it in Settings › Privacy & Security › Photos."
        }
    }

    /// Whether a file is a photo or a video, by its name.
    static func isMedia(_ url: URL) -> Bool {
        resourceType(of: url) != nil
    }

    /// Asks for add-only access (once; later calls answer at once).
    static func requestAccess() async -> Bool {
        let status = await PHPhotoLibrary.requestAuthorization(for: .addOnly)
        return status == .authorized || status == .limited
    }

    /// Adds the photos and videos among `urls` (copied: the files stay where they are). Returns
    /// how many were added.
    @discardableResult
    static func save(_ urls: [URL]) async throws -> Int {
        let media = urls.compactMap { url in resourceType(of: url).map { (url: url, type: $0) } }
        guard !media.isEmpty else { return 0 }
        guard await requestAccess() else { throw Failure.notAllowed }
        try await PHPhotoLibrary.shared().performChanges {
            for item in media {
                let options = PHAssetResourceCreationOptions()
                options.originalFilename = item.url.lastPathComponent
                options.shouldMoveFile = false
                PHAssetCreationRequest.forAsset().addResource(with: item.type, fileURL: item.url, options: options)
            }
        }
        return media.count
    }

    private static func resourceType(of url: URL) -> PHAssetResourceType? {
        guard let type = UTType(filenameExtension: url.pathExtension.lowercased()) else { return nil }
        if type.conforms(to: .movie) { return .video }
        if type.conforms(to: .image) { return .photo }
        return nil
    }
}
