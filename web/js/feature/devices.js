// This device's camera and microphone: one getUserMedia call with the fallback both camera
// pages need (no microphone, or a busy one: the picture alone rather than nothing). What a
// refusal means in words is errors.js's.

/**
 * Opens the camera with `video` constraints, and the microphone when `withAudio`. Without a
 * microphone (NotFoundError) or with a busy one (NotReadableError) it opens the camera alone.
 */
export async function captureCamera(video, withAudio = true) {
  try {
    return await navigator.mediaDevices.getUserMedia({ video, audio: withAudio });
  } catch (e) {
    if (withAudio && (e.name === 'NotFoundError' || e.name === 'NotReadableError')) {
      return navigator.mediaDevices.getUserMedia({ video, audio: false });
    }
    throw e;
  }
}
